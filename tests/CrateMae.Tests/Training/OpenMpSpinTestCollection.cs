namespace CrateMae.Tests.Training;

/// <summary>
/// Runs the test that watches an idle libgomp worker spin on its own, after the parallel test collections: libgomp
/// spins only a token count while more of its threads are busy than there are CPUs, so an OpenMP region of a test
/// running beside it (any fp32 MSSA, a row kernel) would make the spinning worker sleep and the measurement meaningless.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OpenMpSpinTestCollection
{
    public const string Name = "libgomp spin count (alone)";
}
