namespace CrateMae.Tests.Interop;

/// <summary>Runs the interop tests one class at a time (they share the 2-core machine and spawn python).</summary>
[CollectionDefinition(Name)]
public sealed class InteropCollection : ICollectionFixture<InteropFixture>
{
    public const string Name = "Interop";
}
