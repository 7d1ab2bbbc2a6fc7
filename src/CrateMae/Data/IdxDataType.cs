namespace CrateMae.Data;

/// <summary>Element type code of an IDX file (third byte of the magic number).</summary>
public enum IdxDataType : byte
{
    /// <summary>0x08: unsigned byte.</summary>
    UInt8 = 0x08,

    /// <summary>0x09: signed byte.</summary>
    Int8 = 0x09,

    /// <summary>0x0B: 16-bit big-endian integer.</summary>
    Int16 = 0x0B,

    /// <summary>0x0C: 32-bit big-endian integer.</summary>
    Int32 = 0x0C,

    /// <summary>0x0D: 32-bit big-endian IEEE float.</summary>
    Float32 = 0x0D,

    /// <summary>0x0E: 64-bit big-endian IEEE double.</summary>
    Float64 = 0x0E,
}
