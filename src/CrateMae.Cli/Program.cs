using CrateMae.Cli;
using CrateMae.Cli.Commands;
using CrateMae.Hosting;
using Spectre.Console;
using Spectre.Console.Cli;

if (ProcessStart.Begin(args) is { } exitCode) return exitCode;   // allocator (CRATE_MAE_ALLOCATOR), bf16 warning

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("crate-mae");
    config.PropagateExceptions();
    config.UseStrictParsing();    // a misspelled option is an error, not silently ignored
    config.AddCommand<InfoCommand>("info").WithDescription("Parameter counts of a model preset or JSON config.")
        .WithExample("info", "--model", "crate-base", "--baseline", "mae-vit-base");
    config.AddCommand<PretrainCommand>("pretrain").WithDescription("Masked-image pre-training into a run folder (default: crate-fmnist on Fashion-MNIST, 2 epochs or what fits 8 minutes); --resume RUN continues a run.")
        .WithExample("pretrain").WithExample("pretrain", "--minutes", "20").WithExample("pretrain", "--resume", "runs/crate-fmnist").WithExample("pretrain", "--model", "vit-fmnist", "--epochs", "20", "-o", "runs/vit");
    config.AddCommand<ConvertCommand>("convert").WithDescription("Convert weights between .pth, .safetensors and .ckpt (by extension).")
        .WithExample("convert", "runs/crate-fmnist", "model.safetensors");
    config.AddCommand<ExportCommand>("export").WithDescription("The model as an ONNX graph (encoder features, or the whole masked autoencoder) for ONNX Runtime / ML.NET.")
        .WithExample("export", "--checkpoint", "runs/crate-fmnist", "--format", "onnx", "-o", "encoder.onnx");
    config.AddCommand<AnalyzeCommand>("analyze").WithDescription("Per-layer coding rate Rᶜ, sparsity and cls-attention foreground ratio (mean ± std over images), JSON and plots; overlay checkpoints and a random init.")
        .WithExample("analyze", "--checkpoint", "runs/crate-fmnist", "--random-init");
    config.AddCommand<AttentionCommand>("attention").WithDescription("cls attention of every head of a layer over images (PNG grid) and the foreground ratio.")
        .WithExample("attention", "--checkpoint", "runs/crate-fmnist", "--index", "0", "--count", "4");
    config.AddCommand<PcaCommand>("pca").WithDescription("PCA of a layer's patch features over images: RGB of three components and each component (PNG).")
        .WithExample("pca", "--checkpoint", "runs/crate-fmnist", "--count", "8");
    config.AddCommand<ReconstructCommand>("reconstruct").WithDescription("Masked reconstructions of any images: original | masked | reconstruction | + visible (PNG).")
        .WithExample("reconstruct", "--checkpoint", "runs/crate-fmnist", "--image", "shirt.png");
    config.AddCommand<ReportCommand>("report").WithDescription("One self-contained HTML page about a run: config, metrics, loss, reconstructions, analysis, attention, evaluation.")
        .WithExample("report", "runs/crate-fmnist");
    config.AddCommand<LinprobeCommand>("linprobe").WithDescription("Linear probe (L-BFGS, λ chosen on a validation split) on frozen-encoder features; --floors adds raw pixels and a random-init encoder.")
        .WithExample("linprobe", "--checkpoint", "runs/crate-fmnist", "--floors");
    config.AddCommand<KnnCommand>("knn").WithDescription("Weighted cosine k-NN (k = 20, T = 0.07) on the same cached features.")
        .WithExample("knn", "--checkpoint", "runs/crate-fmnist", "--floors");
    config.AddCommand<FinetuneCommand>("finetune").WithDescription("Fine-tune the encoder with a linear head started as its linear probe (LP-FT; layer decay, warm-up + cosine).")
        .WithExample("finetune", "--checkpoint", "runs/crate-fmnist", "--epochs", "5");
    config.AddCommand<EmbedCommand>("embed").WithDescription("Write encoder features (and labels) as NumPy .npy files.")
        .WithExample("embed", "--checkpoint", "runs/crate-fmnist", "--data", "fashion-mnist:test", "-o", "test.npy");
    config.AddCommand<CompareCommand>("compare").WithDescription("Markdown + JSON tables across pre-training runs: their evaluations and white-box measures.")
        .WithExample("compare", "runs/crate-fmnist", "runs/vit-fmnist", "-o", "comparison.md");
    config.AddCommand<BenchCommand>("bench").WithDescription("Training and feature-extraction throughput, GFLOP/s, MFU, memory.")
        .WithExample("bench", "--model", "crate-small", "--batch-size", "8");
});
var current = DeprecatedOptions.Rewrite(args, Console.Error);
return CliErrors.Run(() => app.Run(current), current);
