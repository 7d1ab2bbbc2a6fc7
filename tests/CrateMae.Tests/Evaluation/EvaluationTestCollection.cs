using TorchSharp;

namespace CrateMae.Tests.Evaluation;

/// <summary>Runs the evaluation tests one at a time with libtorch on a single thread (platform note P3).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EvaluationTestCollection : ICollectionFixture<SingleThreadTorch>
{
    public const string Name = "Evaluation (single-threaded torch)";
}

/// <summary>Fixture: <c>torch.set_num_threads(1)</c> once for the collection.</summary>
public sealed class SingleThreadTorch
{
    public SingleThreadTorch() => torch.set_num_threads(1);
}
