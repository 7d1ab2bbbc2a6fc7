using CrateMae.Cli;
using CrateMae.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("crate-mae");
    config.PropagateExceptions();
    config.UseStrictParsing();    // a misspelled option is an error, not silently ignored
    config.AddCommand<InfoCommand>("info").WithDescription("Parameter counts of a model preset or JSON config.")
        .WithExample("info", "--model", "crate-base", "--baseline", "mae-vit-base");
    config.AddCommand<PretrainCommand>("pretrain").WithDescription("Masked-image pre-training into a run folder (default: crate-fmnist on Fashion-MNIST).")
        .WithExample("pretrain").WithExample("pretrain", "--model", "vit-fmnist", "--epochs", "20", "--output", "runs/vit");
    config.AddCommand<ConvertCommand>("convert").WithDescription("Convert weights between .pth, .safetensors and .ckpt (by extension).")
        .WithExample("convert", "runs/crate-fmnist", "model.safetensors");
});
return CliErrors.Run(() => app.Run(args), args);
