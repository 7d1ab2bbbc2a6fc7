using CrateMae.Cli;
using CrateMae.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("crate-mae");
    config.PropagateExceptions();
    config.AddCommand<InfoCommand>("info").WithDescription("Parameter counts of a model preset or JSON config.")
        .WithExample("info", "--model", "crate-base", "--baseline", "mae-vit-base");
    config.AddCommand<BenchCommand>("bench").WithDescription("Training and feature-extraction throughput, GFLOP/s, MFU, memory.");
});
return CliErrors.Run(() => app.Run(args), args);
