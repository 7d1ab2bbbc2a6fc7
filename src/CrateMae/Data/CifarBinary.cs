using CrateMae.IO;
namespace CrateMae.Data;

/// <summary>Shared reader for the CIFAR "binary version" record files (label byte(s) followed by 3072 bytes of CHW pixels).</summary>
internal static class CifarBinary
{
    public const int ImageBytes = 3 * 32 * 32;

    /// <summary>Reads all records of <paramref name="files"/> (validated, in order) into one pixel and one label array.</summary>
    /// <param name="files">Batch files, each must exist and hold a whole number of records.</param>
    /// <param name="labelBytes">Label bytes per record (1 for CIFAR-10, 2 for CIFAR-100).</param>
    /// <param name="labelIndex">Which of the label bytes to keep.</param>
    /// <param name="numClasses">Every kept label must be below this.</param>
    /// <param name="datasetName">For messages.</param>
    public static (byte[] Pixels, byte[] Labels) Read(IReadOnlyList<string> files, int labelBytes, int labelIndex, int numClasses, string datasetName)
    {
        int recordSize = labelBytes + ImageBytes;
        long totalRecords = 0;
        var counts = new long[files.Count];
        for (int f = 0; f < files.Count; f++)
        {
            var path = files[f];
            if (!File.Exists(path))
                throw new FileNotFoundException($"{datasetName}: batch file '{path}' does not exist.", path);
            long length = new FileInfo(path).Length;
            if (length == 0 || length % recordSize != 0)
                throw new InvalidDataException(
                    $"{datasetName}: batch file '{path}' has {length} bytes, which is not a positive multiple of the {recordSize}-byte record " +
                    $"({labelBytes} label byte{(labelBytes > 1 ? "s" : "")} + {ImageBytes} pixel bytes); the file is truncated or not a CIFAR binary batch.");
            counts[f] = length / recordSize;
            totalRecords += counts[f];
        }
        if (totalRecords * ImageBytes > Array.MaxLength)
            throw new InvalidDataException($"{datasetName}: {totalRecords} records are more than one array can hold.");

        var pixels = new byte[totalRecords * ImageBytes];
        var labels = new byte[totalRecords];
        var buffer = new byte[Math.Min(counts.Max(), 1024) * recordSize];
        long record = 0;
        for (int f = 0; f < files.Count; f++)
        {
            using var stream = InputFile.OpenRead(files[f], "CIFAR batch file");
            long remaining = counts[f];
            long recordInFile = 0;
            while (remaining > 0)
            {
                int chunk = (int)Math.Min(remaining, buffer.Length / recordSize);
                try
                {
                    stream.ReadExactly(buffer, 0, chunk * recordSize);
                }
                catch (EndOfStreamException e)
                {
                    throw new InvalidDataException($"{datasetName}: batch file '{files[f]}' ended early (was it modified while reading?).", e);
                }
                for (int r = 0; r < chunk; r++)
                {
                    int off = r * recordSize;
                    byte label = buffer[off + labelIndex];
                    if (label >= numClasses)
                        throw new InvalidDataException(
                            $"{datasetName}: batch file '{files[f]}' record {recordInFile + r} has label {label}; expected 0..{numClasses - 1}.");
                    labels[record] = label;
                    Buffer.BlockCopy(buffer, off + labelBytes, pixels, (int)(record * ImageBytes), ImageBytes);
                    record++;
                }
                recordInFile += chunk;
                remaining -= chunk;
            }
        }
        return (pixels, labels);
    }

    /// <summary>
    /// Reads class names (one per non-empty line) from <paramref name="path"/>, or returns <paramref name="fallback"/> when the file
    /// does not exist. A file with a different number of names is an error.
    /// </summary>
    public static IReadOnlyList<string> ReadNames(string path, IReadOnlyList<string> fallback, string datasetName)
    {
        if (!File.Exists(path)) return fallback;
        InputFile.RequireRegular(path, "CIFAR class-name file");
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != fallback.Count)
            throw new InvalidDataException(
                $"{datasetName}: class-name file '{path}' has {names.Length} non-empty lines, expected {fallback.Count} (one class name per line).");
        return names;
    }

    /// <summary>
    /// Returns <paramref name="directory"/> if it contains <paramref name="probeFile"/>, else its subfolder
    /// <paramref name="subfolder"/> if that exists; otherwise throws naming both.
    /// </summary>
    public static string ResolveDirectory(string directory, string subfolder, string probeFile, string datasetName, string expectedFiles)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{datasetName}: data folder '{directory}' does not exist (expected {expectedFiles}).");
        if (File.Exists(Path.Combine(directory, probeFile))) return directory;
        var sub = Path.Combine(directory, subfolder);
        if (Directory.Exists(sub)) return sub;
        return directory; // the missing batch file is reported by Read with its full path
    }
}
