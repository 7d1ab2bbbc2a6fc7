using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>Element sizes and file-format names of the tensor dtypes the interop layer reads and writes.</summary>
internal static class DTypes
{
    /// <summary>Bytes per element of <paramref name="dtype"/>; throws for dtypes the interop layer does not handle.</summary>
    public static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        ScalarType.Int8 or ScalarType.Byte or ScalarType.Bool => 1,
        _ => throw new NotSupportedException($"dtype {dtype} is not supported by the PyTorch/safetensors interop."),
    };

    /// <summary>Maps a <c>torch.*Storage</c> class name (e.g. <c>FloatStorage</c>) to its dtype.</summary>
    public static bool TryFromStorageName(string name, out ScalarType dtype)
    {
        ScalarType? d = name switch
        {
            "FloatStorage" => ScalarType.Float32,
            "DoubleStorage" => ScalarType.Float64,
            "HalfStorage" => ScalarType.Float16,
            "BFloat16Storage" => ScalarType.BFloat16,
            "LongStorage" => ScalarType.Int64,
            "IntStorage" => ScalarType.Int32,
            "ShortStorage" => ScalarType.Int16,
            "CharStorage" => ScalarType.Int8,
            "ByteStorage" => ScalarType.Byte,
            "BoolStorage" => ScalarType.Bool,
            _ => null,
        };
        dtype = d ?? default;
        return d.HasValue;
    }

    /// <summary>The <c>torch.*Storage</c> class name PyTorch pickles for tensors of <paramref name="dtype"/>.</summary>
    public static string StorageName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new NotSupportedException($"dtype {dtype} cannot be written to a PyTorch file."),
    };

    /// <summary>Maps a safetensors dtype string (e.g. <c>F32</c>) to its dtype.</summary>
    public static bool TryFromSafetensorsName(string name, out ScalarType dtype)
    {
        ScalarType? d = name switch
        {
            "F64" => ScalarType.Float64,
            "F32" => ScalarType.Float32,
            "F16" => ScalarType.Float16,
            "BF16" => ScalarType.BFloat16,
            "I64" => ScalarType.Int64,
            "I32" => ScalarType.Int32,
            "I16" => ScalarType.Int16,
            "I8" => ScalarType.Int8,
            "U8" => ScalarType.Byte,
            "BOOL" => ScalarType.Bool,
            _ => null,
        };
        dtype = d ?? default;
        return d.HasValue;
    }

    /// <summary>The safetensors dtype string of <paramref name="dtype"/>.</summary>
    public static string SafetensorsName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"dtype {dtype} cannot be written to a safetensors file."),
    };

    /// <summary>Formats a shape like PyTorch does: <c>[2, 3]</c>.</summary>
    public static string FormatShape(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Throws on big-endian hosts: every format handled here stores little-endian data.</summary>
    public static void RequireLittleEndianHost()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("PyTorch/safetensors interop requires a little-endian host.");
    }
}
