namespace CrateMae.Data;

/// <summary>Which part of a dataset to open.</summary>
public enum DataSplit
{
    /// <summary>The training split (Fashion-MNIST <c>train-*</c>, CIFAR <c>data_batch_*</c>/<c>train.bin</c>, folder <c>train/</c>).</summary>
    Train,

    /// <summary>The test / validation split (Fashion-MNIST <c>t10k-*</c>, CIFAR <c>test_batch.bin</c>/<c>test.bin</c>, folder <c>val/</c> or <c>test/</c>).</summary>
    Test,
}
