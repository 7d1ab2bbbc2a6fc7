namespace CrateMae.Data;

/// <summary>
/// CIFAR-100, binary version: <c>cifar-100-binary/train.bin</c>, <c>test.bin</c>, <c>fine_label_names.txt</c>.
/// Each record is 2 label bytes (coarse, fine) followed by 3072 bytes of 32×32 RGB pixels in CHW order; the fine label is used.
/// </summary>
public static class Cifar100
{
    /// <summary>The standard 100 fine class names, used when <c>fine_label_names.txt</c> is absent.</summary>
    public static IReadOnlyList<string> DefaultClassNames { get; } =
    [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ];

    /// <summary>Opens one split (fine labels).</summary>
    /// <param name="directory">The <c>cifar-100-binary</c> folder, or a folder that contains it.</param>
    /// <param name="split">Train (train.bin) or test (test.bin).</param>
    /// <exception cref="DirectoryNotFoundException">When the folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">When the batch file is missing.</exception>
    /// <exception cref="InvalidDataException">
    /// When the file length is not a multiple of 3074 bytes, a fine label is not in 0..99, or fine_label_names.txt does not hold 100 names.
    /// </exception>
    public static InMemoryImageDataset Open(string directory, DataSplit split = DataSplit.Train)
    {
        const string name = "cifar100";
        string file = split == DataSplit.Train ? "train.bin" : "test.bin";
        var dir = CifarBinary.ResolveDirectory(directory, "cifar-100-binary", file, name,
            "cifar-100-binary/ with train.bin, test.bin and fine_label_names.txt");
        var names = CifarBinary.ReadNames(Path.Combine(dir, "fine_label_names.txt"), DefaultClassNames, name);
        var (pixels, labels) = CifarBinary.Read([Path.Combine(dir, file)], labelBytes: 2, labelIndex: 1, numClasses: names.Count, name);
        string splitName = split == DataSplit.Train ? "train" : "test";
        return new InMemoryImageDataset($"{name}:{splitName}", 3, 32, 32, pixels, labels, names, NormalizationStats.Cifar100);
    }
}
