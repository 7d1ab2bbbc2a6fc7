using System.Numerics;
using System.Runtime.InteropServices;

namespace CrateMae.Data;

/// <summary>
/// Separable resampling of a box of a <see cref="FloatImage"/> (PIL-style: filter support widened by the downscale factor when
/// antialiasing, weights normalised, taps limited to the box).
/// </summary>
internal static class Resampler
{
    private const double BicubicA = -0.5;

    /// <summary>Resamples the box (top, left, height, width) of <paramref name="src"/> to outHeight × outWidth.</summary>
    public static FloatImage Resample(FloatImage src, int top, int left, int height, int width, int outHeight, int outWidth,
                                      Interpolation interpolation, bool antialias)
    {
        if (height <= 0 || width <= 0 || top < 0 || left < 0 || top + height > src.Height || left + width > src.Width)
            throw new ArgumentException(
                $"Resample: box (top {top}, left {left}, {height}x{width}) is not inside the {src.Height}x{src.Width} image.");
        if (outHeight <= 0 || outWidth <= 0)
            throw new ArgumentException($"Resample: output size must be positive, got {outHeight}x{outWidth}.");

        int channels = src.Channels;
        var result = new FloatImage(channels, outHeight, outWidth);

        // Pass 1 (horizontal): box rows → tmp (C, height, outWidth).
        float[] tmp;
        if (width == outWidth)
        {
            tmp = new float[channels * height * outWidth];
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < height; y++)
                    Array.Copy(src.Data, ((c * src.Height) + top + y) * src.Width + left, tmp, ((c * height) + y) * outWidth, outWidth);
        }
        else
        {
            var wx = AxisWeights.Compute(width, outWidth, interpolation, antialias);
            tmp = new float[channels * height * outWidth];
            var s = src.Data;
            for (int c = 0; c < channels; c++)
            {
                for (int y = 0; y < height; y++)
                {
                    int srcRow = ((c * src.Height) + top + y) * src.Width + left;
                    int dstRow = ((c * height) + y) * outWidth;
                    for (int ox = 0; ox < outWidth; ox++)
                    {
                        int start = srcRow + wx.Start[ox];
                        int n = wx.Count[ox];
                        int wo = ox * wx.Taps;
                        float acc = 0;
                        for (int k = 0; k < n; k++) acc += wx.Weights[wo + k] * s[start + k];
                        tmp[dstRow + ox] = acc;
                    }
                }
            }
        }

        // Pass 2 (vertical): tmp → result (C, outHeight, outWidth).
        if (height == outHeight)
        {
            Array.Copy(tmp, result.Data, tmp.Length);
            return result;
        }
        var wy = AxisWeights.Compute(height, outHeight, interpolation, antialias);
        for (int c = 0; c < channels; c++)
        {
            for (int oy = 0; oy < outHeight; oy++)
            {
                var dst = result.Data.AsSpan(((c * outHeight) + oy) * outWidth, outWidth);
                int n = wy.Count[oy];
                int wo = oy * wy.Taps;
                for (int k = 0; k < n; k++)
                {
                    var row = tmp.AsSpan(((c * height) + wy.Start[oy] + k) * outWidth, outWidth);
                    AddScaled(dst, row, wy.Weights[wo + k]);
                }
            }
        }
        return result;
    }

    /// <summary>dst += w * src, vectorised.</summary>
    private static void AddScaled(Span<float> dst, ReadOnlySpan<float> src, float w)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && dst.Length >= Vector<float>.Count)
        {
            var vw = new Vector<float>(w);
            var d = MemoryMarshal.Cast<float, Vector<float>>(dst);
            var s = MemoryMarshal.Cast<float, Vector<float>>(src);
            for (int v = 0; v < d.Length; v++) d[v] += vw * s[v];
            i = d.Length * Vector<float>.Count;
        }
        for (; i < dst.Length; i++) dst[i] += w * src[i];
    }

    private static double Filter(Interpolation interpolation, double x)
    {
        x = Math.Abs(x);
        if (interpolation == Interpolation.Bilinear) return x < 1 ? 1 - x : 0;
        if (x < 1) return ((((BicubicA + 2) * x) - (BicubicA + 3)) * x * x) + 1;
        if (x < 2) return ((((x - 5) * x) + 8) * x - 4) * BicubicA;
        return 0;
    }

    private static double Support(Interpolation interpolation) => interpolation == Interpolation.Bilinear ? 1.0 : 2.0;

    /// <summary>Per-output-pixel tap ranges (relative to the box start) and normalised weights for one axis.</summary>
    private sealed class AxisWeights
    {
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required float[] Weights { get; init; }
        public required int Taps { get; init; }

        public static AxisWeights Compute(int inLength, int outLength, Interpolation interpolation, bool antialias)
        {
            double scale = (double)inLength / outLength;
            double filterScale = antialias ? Math.Max(scale, 1.0) : 1.0;
            double support = Support(interpolation) * filterScale;
            int taps = (int)Math.Ceiling(2 * support) + 2;
            var start = new int[outLength];
            var count = new int[outLength];
            var weights = new float[outLength * taps];
            var tmp = new double[taps];
            for (int i = 0; i < outLength; i++)
            {
                double center = (i + 0.5) * scale;
                int xmin = Math.Max(0, (int)Math.Floor(center - support + 0.5));
                int xmax = Math.Min(inLength, (int)Math.Floor(center + support + 0.5));
                int n = Math.Min(xmax - xmin, taps);
                double sum = 0;
                for (int k = 0; k < n; k++)
                {
                    double w = Filter(interpolation, (k + xmin - center + 0.5) / filterScale);
                    tmp[k] = w;
                    sum += w;
                }
                if (sum == 0)
                {
                    // Degenerate (cannot happen for in-range centres); fall back to the nearest pixel.
                    n = 1;
                    xmin = Math.Clamp((int)center, 0, inLength - 1);
                    tmp[0] = sum = 1;
                }
                for (int k = 0; k < n; k++) weights[(i * taps) + k] = (float)(tmp[k] / sum);
                start[i] = xmin;
                count[i] = n;
            }
            return new AxisWeights { Start = start, Count = count, Weights = weights, Taps = taps };
        }
    }
}
