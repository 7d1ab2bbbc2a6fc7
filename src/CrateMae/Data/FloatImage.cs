using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Data;

/// <summary>
/// A float image in <b>planar CHW</b> layout: <c>Data[(c * Height + y) * Width + x]</c>. Pixel values are nominally in
/// [0, 1] (before <see cref="Normalize"/>). This is the working type of the transforms and of the imaging helpers.
/// </summary>
public sealed class FloatImage
{
    /// <summary>Allocates a zero-filled image.</summary>
    /// <exception cref="ArgumentException">When a dimension is not positive.</exception>
    public FloatImage(int channels, int height, int width)
        : this(channels, height, width, AllocateChecked(channels, height, width))
    {
    }

    /// <summary>Wraps <paramref name="data"/> (not copied) as a CHW image.</summary>
    /// <exception cref="ArgumentException">When a dimension is not positive or the buffer length is not C*H*W.</exception>
    public FloatImage(int channels, int height, int width, float[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"FloatImage: channels, height and width must be positive, got {channels}x{height}x{width}.");
        if (data.LongLength != (long)channels * height * width)
            throw new ArgumentException(
                $"FloatImage: buffer has {data.LongLength} floats, expected C*H*W = {channels}*{height}*{width} = {(long)channels * height * width}.",
                nameof(data));
        Channels = channels;
        Height = height;
        Width = width;
        Data = data;
    }

    /// <summary>Number of channels (1 = gray, 3 = RGB for images; other counts are allowed for generic maps).</summary>
    public int Channels { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>The values in planar CHW order.</summary>
    public float[] Data { get; }

    /// <summary>Number of values per channel plane (Height * Width).</summary>
    public int PlaneSize => Height * Width;

    /// <summary>The value at channel <paramref name="c"/>, row <paramref name="y"/>, column <paramref name="x"/>.</summary>
    public float this[int c, int y, int x]
    {
        get => Data[((c * Height) + y) * Width + x];
        set => Data[((c * Height) + y) * Width + x] = value;
    }

    /// <summary>The plane of channel <paramref name="c"/> (row-major H*W).</summary>
    public Span<float> Plane(int c) => Data.AsSpan(c * PlaneSize, PlaneSize);

    /// <summary>A deep copy.</summary>
    public FloatImage Clone() => new(Channels, Height, Width, (float[])Data.Clone());

    /// <summary>
    /// Copies a CPU or device tensor of shape (C, H, W) or (H, W) (any floating or integer dtype; converted to float32)
    /// into a new image. Values are taken as they are (no scaling).
    /// </summary>
    /// <exception cref="ArgumentException">When the tensor is not 2-D or 3-D.</exception>
    public static FloatImage FromTensor(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.dim() is not (2 or 3))
            throw new ArgumentException(
                $"FloatImage.FromTensor: expected a (C,H,W) or (H,W) tensor, got shape [{string.Join(",", tensor.shape)}].", nameof(tensor));
        int c = tensor.dim() == 3 ? (int)tensor.shape[0] : 1;
        int h = (int)tensor.shape[^2], w = (int)tensor.shape[^1];
        using var scope = torch.NewDisposeScope(); // frees the detached / converted copies, not the caller's tensor
        var cpu = tensor.detach().to(ScalarType.Float32, torch.CPU).contiguous();
        var data = cpu.data<float>().ToArray();
        return new FloatImage(c, h, w, data);
    }

    /// <summary>Creates a new float32 CPU tensor (C, H, W) holding a copy of the values.</summary>
    public Tensor ToTensor() => torch.tensor(Data, new long[] { Channels, Height, Width });

    private static float[] AllocateChecked(int channels, int height, int width)
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"FloatImage: channels, height and width must be positive, got {channels}x{height}x{width}.");
        long n = (long)channels * height * width;
        if (n > Array.MaxLength)
            throw new ArgumentException($"FloatImage: {channels}x{height}x{width} = {n} values is more than one array can hold.");
        return new float[n];
    }
}
