using System.Globalization;
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>Formats unpickled values the way Python's <c>str()</c> would (for checkpoint <c>args</c> hints).</summary>
internal static class PyRepr
{
    private const int MaxDepth = 32;

    /// <summary>Python <c>str(value)</c>: strings as-is, everything else like <c>repr</c>.</summary>
    public static string Str(object? value) => value is string s ? s : Repr(value, 0);

    private static string Repr(object? value, int depth)
    {
        if (depth > MaxDepth) return "...";
        return value switch
        {
            null => "None",
            bool b => b ? "True" : "False",
            long l => l.ToString(CultureInfo.InvariantCulture),
            BigInteger bi => bi.ToString(CultureInfo.InvariantCulture),
            double d => Float(d),
            string s => "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'",
            byte[] bytes => $"b<{bytes.Length} bytes>",
            object?[] t => t.Length == 1 ? "(" + Repr(t[0], depth + 1) + ",)" : "(" + string.Join(", ", t.Select(x => Repr(x, depth + 1))) + ")",
            List<object?> l => "[" + string.Join(", ", l.Select(x => Repr(x, depth + 1))) + "]",
            HashSet<object?> set => set.Count == 0 ? "set()" : "{" + string.Join(", ", set.Select(x => Repr(x, depth + 1))) + "}",
            PyDict d => Dict(d, depth),
            Tensor t => $"tensor({t.dtype}, {DTypes.FormatShape(t.shape)})",
            _ => value.ToString() ?? value.GetType().Name,
        };
    }

    private static string Dict(PyDict d, int depth)
    {
        var sb = new StringBuilder();
        if (d.TypeName == "argparse.Namespace")
        {
            sb.Append("Namespace(");
            sb.AppendJoin(", ", d.Select(kv => Str(kv.Key) + "=" + Repr(kv.Value, depth + 1)));
            return sb.Append(')').ToString();
        }
        sb.Append('{');
        sb.AppendJoin(", ", d.Select(kv => Repr(kv.Key, depth + 1) + ": " + Repr(kv.Value, depth + 1)));
        return sb.Append('}').ToString();
    }

    private static string Float(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        var s = d.ToString("R", CultureInfo.InvariantCulture);
        if (s.Contains('E', StringComparison.Ordinal))
        {
            // Python writes 1e-05 / 1e+20.
            var parts = s.Split('E');
            var exp = int.Parse(parts[1], CultureInfo.InvariantCulture);
            return parts[0] + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
        }
        return s.Contains('.', StringComparison.Ordinal) ? s : s + ".0";
    }
}
