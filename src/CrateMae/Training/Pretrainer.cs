using System.Diagnostics;
using CrateMae.IO;
using CrateMae.Interop;
using CrateMae.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Training;

/// <summary>
/// Masked-image pre-training with the MAE recipe (spec §6.1): AdamW (β 0.9/0.95), lr = blr × batch / 256, per-iteration
/// warm-up + cosine, decay on weights and tokens only, gradient accumulation, optional clipping. Writes a run folder
/// (<see cref="RunFolder"/>): config, metrics, loss plot, reconstruction grids, atomic checkpoints, a PyTorch export.
/// Every step runs in its own dispose scope. Randomness is a function of (seed, epoch, step), so a resumed run repeats
/// the uninterrupted run's losses.
/// </summary>
public sealed class Pretrainer
{
    private readonly MaeConfig _config;
    private readonly PretrainOptions _options;
    private readonly IBatchSource _train;
    private readonly IBatchSource? _test;
    private readonly RunFolder _run;
    private readonly RunArtifacts _artifacts;
    private readonly Device _device;
    private readonly ScalarType? _precision;

    public Pretrainer(MaeConfig config, PretrainOptions options, IBatchSource train, IBatchSource? test,
        string outputDir, RunArtifacts artifacts)
    {
        _config = config.Validate();
        _options = options.Validate();
        _train = train;
        _test = test;
        _run = new RunFolder(outputDir);
        _artifacts = artifacts;
        _device = DeviceChoice.Parse(options.Device);
        _precision = MatmulPrecision.Parse(options.Precision);
        if (train.StepsPerEpoch < 1)
            throw new ArgumentException($"the training data has fewer images than one batch ({train.BatchSize})");
        if (options.TotalSteps is { } total && (total > (long)options.Epochs * train.StepsPerEpoch || total <= (long)(options.Epochs - 1) * train.StepsPerEpoch))
            throw new ArgumentException($"the run's {total} steps do not end in its last epoch ({options.Epochs} epochs × {train.StepsPerEpoch} steps; " +
                                        "changed --batch-size, --limit or dataset?)");
    }

    public event Action<TrainProgress>? Progress;
    public event Action<string>? Message;

    public RunFolder Run => _run;

    /// <summary>Trains from scratch, or from <paramref name="resumeFrom"/> (a checkpoint file or run folder).</summary>
    public PretrainSummary Train(string? resumeFrom = null, CancellationToken cancellationToken = default)
    {
        _run.Create();
        int stale = _run.RemoveStaleTemporaryFiles();
        if (stale > 0) Message?.Invoke($"removed {stale} temporary file(s) left by an interrupted write");

        random.manual_seed(_options.Seed);
        using var model = new MaskedAutoencoder(_config, new Generator((ulong)_options.Seed));
        model.to(_device);
        var groups = ParamGroups.WeightDecaySplit(model, _options.WeightDecay);
        using var optimizer = new AdamW(groups, _options.Beta1, _options.Beta2);
        var state = new TrainingState { Seed = _options.Seed };

        if (resumeFrom is not null)
        {
            var path = RunFolder.ResolveResume(resumeFrom);
            using var ckpt = LoadForResume(path);
            if (ckpt.Config with { Name = "" } != _config with { Name = "" })
                throw new ArgumentException($"--resume {path}: the checkpoint's model config differs from --model '{_config.Name}'");
            StateDictLoader.LoadInto(model, ckpt.ModelTensors, path);
            state = ckpt.State ?? throw new InvalidDataException($"{path}: checkpoint has no training state to resume from");
            if (state.StepInEpoch > _train.StepsPerEpoch)
                throw new ArgumentException($"--resume {path}: the checkpoint stopped at step {state.StepInEpoch} of epoch {state.Epoch + 1}, " +
                                            $"but the data now gives only {_train.StepsPerEpoch} steps per epoch (changed --batch-size, --limit or dataset?)");
            if (ckpt.OptimizerTensors.Count == 0 && state.Epoch < _options.Epochs)
                Message?.Invoke($"note: {path} holds no optimizer state; continuing with fresh AdamW moments");
            optimizer.LoadState(ckpt.OptimizerTensors, state.OptimizerSteps, path);
            if (state.Seed != _options.Seed)
                Message?.Invoke($"note: resuming with --seed {_options.Seed}, the checkpoint used {state.Seed}; the data order will differ");
            Message?.Invoke($"resumed from {path} at epoch {state.Epoch + 1}, step {state.StepInEpoch} (global step {state.GlobalStep})");
            // A kill between the epoch-end checkpoint and its numbered copy left the copy missing: make it now.
            if (state.StepInEpoch == 0 && state.Epoch > 0 && (state.Epoch % _options.CheckpointEvery == 0 || state.Epoch == _options.Epochs) &&
                !File.Exists(_run.EpochCheckpoint(state.Epoch)))
                AtomicFile.Copy(path, _run.EpochCheckpoint(state.Epoch));
        }

        _artifacts.WriteConfig(_run, _config, _options);
        using var metrics = new MetricsLog(_run.Metrics, resumeFrom is null ? null : state.GlobalStep);
        int stepsPerEpoch = _train.StepsPerEpoch;
        // A time-budgeted run ends at TotalSteps, part-way through its last epoch; the schedule ends there too.
        long runSteps = _options.TotalSteps ?? (long)stepsPerEpoch * _options.Epochs;
        var schedule = new LrSchedule(_options.AbsoluteLr, _options.WarmupEpochs,
            _options.TotalSteps is { } fixedSteps ? fixedSteps / (double)stepsPerEpoch : _options.Epochs, _options.MinLr);
        int StepsIn(int e) => (int)Math.Min(stepsPerEpoch, runSteps - (long)e * stepsPerEpoch);
        long totalSteps = runSteps;
        if (_options.MaxSteps is { } max) totalSteps = Math.Min(totalSteps, max);

        double? firstTest = null, lastTest = null, lastTrain = null;
        if (resumeFrom is null && _test is not null)
        {
            firstTest = lastTest = EvaluateTestLoss(model);
            metrics.Write(new { type = "epoch", epoch = 0, step = 0L, test_loss = firstTest, lr = 0.0, seconds = 0.0 });
            _artifacts.WriteReconstructions(_run.ReconstructionPng(0), model, _test, _options);
        }

        var clock = Stopwatch.StartNew();
        double wallBefore = state.WallSeconds;
        long stepsThisRun = 0;
        var lastCheckpointTime = clock.Elapsed;
        string? lastCheckpoint = resumeFrom is null ? null : RunFolder.ResolveResume(resumeFrom);
        bool interrupted = false;

        int epoch = state.Epoch;
        int stepInEpoch = state.StepInEpoch;
        long globalStep = state.GlobalStep;
        var windowClock = Stopwatch.StartNew();
        long windowImages = 0;

        TrainingState Position(bool finished = false) => state with
        {
            Epoch = epoch, StepInEpoch = stepInEpoch, GlobalStep = globalStep,
            WallSeconds = wallBefore + clock.Elapsed.TotalSeconds, Finished = finished,
        };

        void SaveLast()
        {
            Checkpoint.Save(_run.LastCheckpoint, model, optimizer, Position(), _options, _artifacts.CheckpointMetadata);
            lastCheckpoint = _run.LastCheckpoint;
            lastCheckpointTime = clock.Elapsed;
        }

        // Bad data stops the run; progress since the last checkpoint is kept when the position is a clean step boundary.
        Exception DataFailed(Exception e)
        {
            string where = $"epoch {epoch + 1}, step {stepInEpoch} (global step {globalStep})";
            if (stepsThisRun > 0 && stepInEpoch % _options.AccumIter == 0)
            {
                SaveLast();
                return new InvalidDataException($"{e.Message}; training stopped at {where} and saved a resumable checkpoint {lastCheckpoint}", e);
            }
            return new InvalidDataException($"{e.Message}; training stopped at {where}; " +
                (lastCheckpoint is null ? "no checkpoint was written yet" : $"the last checkpoint is {lastCheckpoint}"), e);
        }

        model.train();
        while (epoch < _options.Epochs && globalStep < totalSteps && !interrupted)
        {
            int epochSteps = StepsIn(epoch);
            var epochClock = Stopwatch.StartNew();
            double epochLossSum = 0;
            int epochLossCount = 0;
            // Cancellation is handled here at accumulation boundaries, never inside the loader, so no half-accumulated step is lost.
            foreach (var (images, labels) in GuardData(_train.Epoch(epoch, stepInEpoch, CancellationToken.None), DataFailed))
            {
                using (images)
                using (labels)
                using (var scope = NewDisposeScope())
                {
                    if (!isfinite(images).all().item<bool>())
                        throw DataFailed(new InvalidDataException("the training batch contains NaN or Inf"));
                    double lr = schedule.At(epoch + (double)stepInEpoch / stepsPerEpoch);
                    double loss = TrainStep(model, optimizer, images.to(_device), lr, stepInEpoch, globalStep);
                    if (!double.IsFinite(loss))
                    {
                        throw new TrainingDivergedException(
                            $"loss became {loss} at epoch {epoch + 1}, step {stepInEpoch} (global step {globalStep}); " +
                            (lastCheckpoint is null ? "no checkpoint was written yet" : $"the last good checkpoint is {lastCheckpoint}") +
                            ". Lower --blr, add --clip-grad, or check the input data for NaN/Inf.");
                    }
                    stepInEpoch++;
                    globalStep++;
                    stepsThisRun++;
                    epochLossSum += loss;
                    epochLossCount++;
                    lastTrain = loss;
                    windowImages += images.shape[0];
                    double ips = windowImages / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds);
                    if (globalStep % _options.LogEvery == 0)
                    {
                        // RSS and this thread's live tensor wrappers: flat over a long run when nothing leaks (docs/performance.md §4).
                        metrics.Write(new
                        {
                            type = "step", epoch = epoch + 1, step = globalStep, loss, lr, img_per_s = Math.Round(ips, 2),
                            rss_mb = Math.Round(Hosting.ProcessStatus.Megabytes("VmRSS"), 1),
                            live_tensors = DisposeScopeManager.Statistics.ThreadTotalLiveCount,
                        });
                        windowClock.Restart();
                        windowImages = 0;
                    }
                    var elapsed = clock.Elapsed;
                    double perStep = elapsed.TotalSeconds / Math.Max(1, stepsThisRun);
                    Progress?.Invoke(new TrainProgress(epoch + 1, _options.Epochs, stepInEpoch, epochSteps, globalStep,
                        totalSteps, loss, lr, ips, elapsed, TimeSpan.FromSeconds(perStep * (totalSteps - globalStep))));
                }

                bool atBoundary = stepInEpoch % _options.AccumIter == 0;
                if (atBoundary && cancellationToken.IsCancellationRequested) { interrupted = true; break; }
                if (globalStep >= totalSteps) break;
                // Not after an epoch's last step: the epoch-end checkpoint follows at once, and a checkpoint taken before the
                // epoch-end metrics line would make a resume write that line twice.
                if (atBoundary && stepInEpoch < epochSteps && _options.CheckpointMinutes > 0 &&
                    (clock.Elapsed - lastCheckpointTime).TotalMinutes >= _options.CheckpointMinutes)
                    SaveLast();
            }
            if (stepInEpoch < epochSteps)
            {
                // Cancelled (possibly while the loader was waiting) or --max-steps reached mid-epoch.
                interrupted = cancellationToken.IsCancellationRequested;
                break;
            }

            // The epoch is complete: test loss, reconstructions, loss plot, checkpoints.
            epoch++;
            stepInEpoch = 0;
            lastTest = _test is null ? null : EvaluateTestLoss(model);
            model.train();
            double trainLoss = epochLossSum / Math.Max(1, epochLossCount);
            metrics.Write(new
            {
                type = "epoch", epoch, step = globalStep, train_loss = trainLoss, test_loss = lastTest,
                lr = schedule.At(epoch), seconds = Math.Round(epochClock.Elapsed.TotalSeconds, 2),
            });
            if (_test is not null) _artifacts.WriteReconstructions(_run.ReconstructionPng(epoch), model, _test, _options);
            _artifacts.WriteLossPlot(_run);
            SaveLast();
            if (epoch % _options.CheckpointEvery == 0 || epoch == _options.Epochs)
                AtomicFile.Copy(_run.LastCheckpoint, _run.EpochCheckpoint(epoch));
            Message?.Invoke($"epoch {epoch}/{_options.Epochs}: train loss {trainLoss:F4}" +
                            (lastTest is null ? "" : $", test loss {lastTest:F4}") + $" ({epochClock.Elapsed.TotalSeconds:F0} s)");
            if (cancellationToken.IsCancellationRequested) interrupted = epoch < _options.Epochs;
        }

        bool finished = !interrupted && epoch >= _options.Epochs;
        if (interrupted)
        {
            SaveLast();
            metrics.Write(new { type = "interrupted", epoch = epoch + 1, step = globalStep });
            Message?.Invoke($"interrupted: saved a resumable checkpoint at epoch {epoch + 1}, step {stepInEpoch} → {_run.LastCheckpoint}");
        }
        else if (!finished)
        {
            SaveLast();    // --max-steps
        }

        string? exported = null;
        if (finished)
        {
            Checkpoint.Save(_run.FinalCheckpoint, model, null, Position(finished: true), _options, _artifacts.CheckpointMetadata);
            lastCheckpoint = _run.FinalCheckpoint;
            using (var cpu = NewDisposeScope())
                PyTorchFile.SaveStateDict(_run.ExportedPth, model.OrderedStateDict().Select(kv => (kv.Key, kv.Value.detach().cpu())).ToList());
            exported = _run.ExportedPth;
            _artifacts.WriteLossPlot(_run);
        }

        double wall = wallBefore + clock.Elapsed.TotalSeconds;
        var summary = new PretrainSummary
        {
            OutputDir = _run.Root,
            EpochsCompleted = finished ? _options.Epochs : epoch,
            Steps = globalStep,
            FirstTestLoss = firstTest ?? FirstTestLossFromMetrics(),
            LastTestLoss = lastTest,
            LastTrainLoss = lastTrain,
            WallSeconds = wall,
            ImagesPerSecond = stepsThisRun * (double)_train.BatchSize / Math.Max(1e-9, clock.Elapsed.TotalSeconds),
            Interrupted = interrupted,
            LastCheckpoint = lastCheckpoint,
            ExportedPth = exported,
        };
        _artifacts.WriteSummary(_run, summary);
        return summary;
    }

    /// <summary>
    /// Training throughput in images per second: <paramref name="warmupSteps"/> untimed, then <paramref name="timedSteps"/>
    /// timed steps (data loading included) of a throwaway model on the first batches (epochs 0, 1, … when one epoch has
    /// fewer). The run itself is not touched: its model, optimizer and random streams start afresh in <see cref="Train"/>.
    /// </summary>
    public (double ImagesPerSecond, int TimedSteps) MeasureThroughput(int warmupSteps = 2, int timedSteps = 5)
    {
        if (warmupSteps < 1 || timedSteps < 1) throw new ArgumentException("calibration needs at least one warm-up and one timed step");
        using var generator = new Generator((ulong)_options.Seed);
        using var model = new MaskedAutoencoder(_config, generator);
        model.to(_device);
        model.train();
        using var optimizer = new AdamW(ParamGroups.WeightDecaySplit(model, _options.WeightDecay), _options.Beta1, _options.Beta2);
        var clock = new Stopwatch();
        int step = 0, timed = 0;
        long images = 0;
        for (int epoch = 0; timed < timedSteps; epoch++)
        {
            int before = step;
            foreach (var (batch, labels) in _train.Epoch(epoch, 0, CancellationToken.None))
            {
                using (batch)
                using (labels)
                using (NewDisposeScope())
                {
                    // Every step applies the update, as a run with --accum-iter 1 does.
                    TrainingStep.Run(model, optimizer, batch.to(_device), rand(batch.shape[0], _config.NumPatches).to(_device), _options.MaskRatio,
                        _precision, _options.AbsoluteLr, accumIter: 1, applyUpdate: true, clipGrad: _options.ClipGrad);
                    if (step >= warmupSteps)
                    {
                        timed++;
                        images += batch.shape[0];
                    }
                }
                step++;
                if (step == warmupSteps) clock.Restart();
                if (timed == timedSteps) break;
            }
            if (step == before) throw new InvalidDataException($"calibration: epoch {epoch} of the training data gave no batch");
        }
        return (images / Math.Max(1e-9, clock.Elapsed.TotalSeconds), timed);
    }

    /// <summary>Loads a checkpoint to resume from; if it is unreadable, the error points at the newest numbered checkpoint.</summary>
    private Checkpoint.Contents LoadForResume(string path)
    {
        try
        {
            return Checkpoint.Load(path);
        }
        catch (InvalidDataException e)
        {
            var older = Directory.Exists(_run.Checkpoints)
                ? Directory.GetFiles(_run.Checkpoints, "epoch-*" + Checkpoint.Extension).Order(StringComparer.Ordinal).LastOrDefault()
                : null;
            if (older is null || Path.GetFullPath(older) == Path.GetFullPath(path)) throw;
            throw new InvalidDataException($"{e.Message}; the newest numbered checkpoint can be resumed instead: --resume {older}", e);
        }
    }

    /// <summary>Enumerates <paramref name="source"/>; an exception while reading a batch is replaced by <paramref name="failed"/>(it).</summary>
    private static IEnumerable<(Tensor Images, Tensor Labels)> GuardData(IEnumerable<(Tensor Images, Tensor Labels)> source,
                                                                         Func<Exception, Exception> failed)
    {
        using var e = source.GetEnumerator();
        while (true)
        {
            bool has;
            try
            {
                has = e.MoveNext();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw failed(ex);
            }
            if (!has) yield break;
            yield return e.Current;
        }
    }

    /// <summary>One forward/backward; an optimizer step at each accumulation boundary. Returns the (unscaled) loss.</summary>
    private double TrainStep(MaskedAutoencoder model, AdamW optimizer, Tensor images, double lr, int stepInEpoch, long globalStep)
    {
        using var noiseGen = new Generator(StepSeed(_options.Seed, globalStep));
        using var noise = rand(images.shape[0], _config.NumPatches, generator: noiseGen);
        using var onDevice = noise.to(images.device);
        return TrainingStep.Run(model, optimizer, images, onDevice, _options.MaskRatio, _precision, lr, _options.AccumIter,
            applyUpdate: (stepInEpoch + 1) % _options.AccumIter == 0, clipGrad: _options.ClipGrad);
    }

    /// <summary>Masked-patch loss on the test split with fixed masks (seeded per batch), so epochs are comparable.</summary>
    public double EvaluateTestLoss(MaskedAutoencoder model)
    {
        if (_test is null) throw new InvalidOperationException("no test data");
        return EvaluateMaskedLoss(model, _test, _options.MaskRatio, _options.EvalImages, _device, _precision);
    }

    /// <summary>Mean masked-patch loss over up to <paramref name="maxImages"/> images of <paramref name="data"/> (epoch 0 order), deterministic masks.</summary>
    public static double EvaluateMaskedLoss(MaskedAutoencoder model, IBatchSource data, double maskRatio, int maxImages,
        Device device, ScalarType? precision)
    {
        model.eval();
        double sum = 0;
        long count = 0;
        int batch = 0;
        using var _ = no_grad();
        using var prec = MatmulPrecision.Use(precision);
        foreach (var (images, labels) in data.Epoch(0, 0, CancellationToken.None))
        {
            using var img = images;
            using var lab = labels;
            using var scope = NewDisposeScope();
            var x = images.to(device);
            if (maxImages > 0 && count + x.shape[0] > maxImages) x = x[..(int)(maxImages - count)];
            using var gen = new Generator(StepSeed(12345, batch++));
            var noise = rand(x.shape[0], model.Config.NumPatches, generator: gen).to(device);
            using var output = model.Forward(x, maskRatio, noise);
            sum += output.Loss.item<float>() * x.shape[0];
            count += x.shape[0];
            if (maxImages > 0 && count >= maxImages) break;
        }
        return count == 0 ? double.NaN : sum / count;
    }

    /// <summary>The seed of the masking noise at a global step (SplitMix64 of seed and step).</summary>
    public static ulong StepSeed(int seed, long step)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step + 0x632BE59BD9B4E019UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private double? FirstTestLossFromMetrics()
    {
        if (!File.Exists(_run.Metrics)) return null;
        var first = MetricsLog.Read(_run.Metrics).FirstOrDefault(r => (string?)r["type"] == "epoch" && MetricsLog.Integer(r, "epoch") == 0);
        return first is null ? null : MetricsLog.Number(first, "test_loss");
    }
}
