using System.Globalization;

namespace CrateMae.Hosting;

/// <summary>Memory and load of this process and machine, read from <c>/proc</c> (for progress lines and benchmark reports).</summary>
public static class ProcessStatus
{
    /// <summary>A field of <c>/proc/self/status</c> (<c>VmRSS</c>, <c>VmHWM</c>) in MB; 0 where it cannot be read.</summary>
    public static double Megabytes(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (FieldMegabytes(line, field) is { } mb) return mb;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    /// <summary>
    /// The value in MB of a status line such as <c>VmRSS:\t  123456 kB</c>, or null for another field. The kernel pads
    /// the number with spaces to 8 digits after the tab, so from 10 GB up no space is left.
    /// </summary>
    internal static double? FieldMegabytes(string line, string field)
    {
        if (!line.StartsWith(field + ":", StringComparison.Ordinal)) return null;
        var parts = line[(field.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(parts[0], CultureInfo.InvariantCulture) / 1024.0;
    }

    /// <summary>The machine's 1-minute load average; NaN where it cannot be read.</summary>
    public static double LoadAverage()
    {
        try
        {
            var s = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(s, CultureInfo.InvariantCulture);
        }
        catch (IOException) { return double.NaN; }
        catch (UnauthorizedAccessException) { return double.NaN; }
    }
}
