using System.ComponentModel;
using Spectre.Console.Cli;

namespace CrateMae.Cli.Commands;

/// <summary>Options every command accepts.</summary>
public class CommonSettings : CommandSettings
{
    [CommandOption("--verbose")]
    [Description("Print stack traces on errors.")]
    public bool Verbose { get; init; }

    [CommandOption("--threads <N>")]
    [Description("CPU threads for libtorch (default: all cores).")]
    public int? Threads { get; init; }

    [CommandOption("--json")]
    [Description("Print the result as one JSON document on stdout (status lines go to stderr).")]
    public bool Json { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        Threads is <= 0 ? Spectre.Console.ValidationResult.Error("--threads: expected an integer ≥ 1") : base.Validate();

    /// <summary>Applies process-wide settings (threads).</summary>
    public void Apply()
    {
        if (Threads is { } t) TorchSharp.torch.set_num_threads(t);
    }
}

/// <summary>Options of every command that builds or loads a model: the architecture.</summary>
public class ModelSettings : CommonSettings
{
    [CommandOption("-m|--model <NAME>")]
    [Description("Architecture: a preset ('crate-mae info --model list') or a JSON config file. pretrain: the model to train " +
                 "(default crate-fmnist); info: default crate-base; bench: default crate-small; commands reading a checkpoint: " +
                 "needed only for foreign .pth/.safetensors weights without a config.")]
    public string? Model { get; init; }
}
