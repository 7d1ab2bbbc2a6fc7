using CrateMae.IO;
using CrateMae.Tests.Data;

namespace CrateMae.Tests.Reliability;

/// <summary>One writer per folder: a second <see cref="FolderLock"/> is refused at once, naming the holder.</summary>
public sealed class FolderLockTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void A_second_writer_is_refused_with_the_folder_and_the_holder()
    {
        var folder = _tmp.File("run");
        using (FolderLock.Acquire(folder, "first writer"))
        {
            var e = Assert.Throws<IOException>(() => FolderLock.Acquire(folder, "second writer"));
            Assert.Contains(Path.GetFullPath(folder), e.Message);
            Assert.Contains($"process {Environment.ProcessId} (first writer, since ", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        using var again = FolderLock.Acquire(folder, "third writer");
        Assert.Contains("third writer", FolderLock.Owner(folder));
    }

    [Fact]
    public void Acquiring_creates_the_folder_and_leaves_no_temporary_file()
    {
        var folder = _tmp.File("a", "b");
        using (FolderLock.Acquire(folder, "writer")) Assert.True(Directory.Exists(folder));
        Assert.Equal<string>([FolderLock.LockFileName, FolderLock.OwnerFileName],
            Directory.EnumerateFiles(folder, ".*").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray());
    }
}
