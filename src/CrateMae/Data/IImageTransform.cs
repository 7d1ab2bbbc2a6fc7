namespace CrateMae.Data;

/// <summary>
/// One step of a <see cref="TransformPipeline"/>. Implementations are immutable and thread-safe; all randomness comes from the
/// <see cref="SampleRandom"/> passed in, so the result is a pure function of (input, random state).
/// </summary>
public interface IImageTransform
{
    /// <summary>
    /// Transforms <paramref name="image"/> (CHW). The result may be the same instance modified in place, so callers must not keep
    /// using the input afterwards.
    /// </summary>
    FloatImage Apply(FloatImage image, SampleRandom random);
}
