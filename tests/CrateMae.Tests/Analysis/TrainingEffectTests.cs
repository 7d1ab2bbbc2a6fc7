using CrateMae.Analysis;

namespace CrateMae.Tests.Analysis;

public sealed class TrainingEffectTests
{
    /// <summary>A hand-made report: per layer Rᶜ, ℓ⁰ density and (optionally) the foreground ratio.</summary>
    private static WhiteBoxReport Report(string name, double[] rc, double[] density, double?[]? foreground = null) =>
        new(name, 10, "crate", 0.01, rc.Select((r, i) => new LayerStatistics(i + 1, r, 1, density[i], 0.01, 1 - density[i],
            foreground?[i], foreground?[i] is null ? null : 0.1)).ToArray());

    [Fact]
    public void GivenTrainingThatLowersRcAndDensityAndRaisesTheForegroundRatioEverywhere_WhenContrasted_ThenOneSentenceSaysSoWithRanges()
    {
        // Given
        var trained = Report("run (trained)", [90, 80, 101], [0.4, 0.3, 0.31], [1.1, 1.2, 1.21]);
        var random = Report("random init (seed 0)", [100, 100, 184], [0.5, 0.5, 0.52], [1.0, 0.95, 0.92]);

        // When
        var effect = TrainingEffect.Between(trained, random);

        // Then
        Assert.Equal("run (trained)", effect.TrainedName);
        Assert.Equal("random init (seed 0)", effect.RandomInitName);
        Assert.Equal([1, 2, 3], effect.Layers.Select(l => l.Layer));
        Assert.Equal(
            "Compared with the random init, training lowered Rᶜ (more compressed) in every layer by 10–45 % (last layer: 101 vs 184); " +
            "lowered the ℓ⁰ density of the block outputs (sparser) in every layer by 20–40 % (last layer: 0.310 vs 0.520); " +
            "and raised the cls-attention foreground ratio (toward the object) in every layer by 10–32 % (last layer: 1.21 vs 0.92).",
            effect.Summary);
        var last = effect.Layers[^1];
        Assert.Equal(-83, last.CodingRateChange, 12);
        Assert.Equal(-83.0 / 184, last.CodingRateRelativeChange, 12);
        Assert.Equal(-0.21, last.DensityChange, 12);
        Assert.Equal(0.29, last.ForegroundRatioChange!.Value, 12);
        Assert.Equal(0.29 / 0.92, last.ForegroundRatioRelativeChange!.Value, 12);
    }

    [Fact]
    public void GivenMixedLayersAndNoForegroundData_WhenContrasted_ThenEachDirectionNamesItsLayersAndTheForegroundPartIsLeftOut()
    {
        // Given Rᶜ lower in layers 1–3 and higher in 4; density unchanged in 1–2, lower in 3, higher in 4; no foreground ratio
        var trained = Report("t", [50, 45, 40, 60], [0.5, 0.5, 0.3, 0.2]);
        var random = Report("r", [55, 50, 50, 55], [0.5, 0.502, 0.6, 0.1]);

        // When
        var effect = TrainingEffect.Between(trained, random);

        // Then
        Assert.Equal(
            "Compared with the random init, training lowered Rᶜ (more compressed) in layers 1–3 by 9.1–20 % and raised it (less compressed) " +
            "in layer 4 by 9.1 % (last layer: 60.0 vs 55.0); and lowered the ℓ⁰ density of the block outputs (sparser) in layer 3 by 50 %, " +
            "raised it (denser) in layer 4 by 100 % and left it within 1 % in layers 1–2 (last layer: 0.200 vs 0.100).",
            effect.Summary);
        Assert.All(effect.Layers, l =>
        {
            Assert.Null(l.ForegroundRatioTrained);
            Assert.Null(l.ForegroundRatioChange);
            Assert.Null(l.ForegroundRatioRelativeChange);
        });
    }

    [Fact]
    public void GivenForegroundRatiosInSomeLayersOnlyAndAnUnchangedRc_WhenContrasted_ThenOnlyLayersWithBothRatiosCount()
    {
        // Given a foreground ratio in both models only for layer 2 (layer 1: random only, layer 3: neither)
        var trained = Report("t", [20, 20, 20], [0.9, 0.8, 0.7], [null, 1.5, null]);
        var random = Report("r", [20.1, 20, 19.9], [0.9, 0.9, 0.9], [0.9, 1.0, null]);

        // When
        var effect = TrainingEffect.Between(trained, random);

        // Then
        Assert.Equal(
            "Compared with the random init, training left Rᶜ within 1 % in every layer (last layer: 20.0 vs 19.9); " +
            "lowered the ℓ⁰ density of the block outputs (sparser) in layers 2–3 by 11–22 % and left it within 1 % in layer 1 (last layer: 0.700 vs 0.900); " +
            "and raised the cls-attention foreground ratio (toward the object) in layer 2 by 50 % (layer 2: 1.50 vs 1.00).",
            effect.Summary);
    }

    [Fact]
    public void GivenTrainingThatMovesAttentionOffTheObject_WhenContrasted_ThenTheSentenceSaysAwayFromTheObject()
    {
        var effect = TrainingEffect.Between(Report("t", [5], [0.5], [0.8]), Report("r", [4], [0.5], [1.0]));

        Assert.Equal(
            "Compared with the random init, training raised Rᶜ (less compressed) in layer 1 by 25 % (last layer: 5.00 vs 4.00); " +
            "left the ℓ⁰ density of the block outputs within 1 % in layer 1 (last layer: 0.500 vs 0.500); " +
            "and lowered the cls-attention foreground ratio (away from the object) in layer 1 by 20 % (last layer: 0.80 vs 1.00).",
            effect.Summary);
    }

    [Fact]
    public void GivenReportsOfDifferentDepthsOrANonFiniteValue_WhenContrasted_ThenOneClearError()
    {
        var two = Report("t", [1, 2], [0.5, 0.5]);
        var three = Report("r", [1, 2, 3], [0.5, 0.5, 0.5]);
        var depth = Assert.Throws<ArgumentException>(() => TrainingEffect.Between(two, three));
        Assert.Contains("'t' (2 layers) with 'r' (3 layers)", depth.Message);

        var nan = Report("n", [1, double.NaN], [0.5, 0.5]);
        var bad = Assert.Throws<ArgumentException>(() => TrainingEffect.Between(two, nan));
        Assert.Contains("layer 2 of 'n': the Rᶜ is not a finite number", bad.Message);
    }

    [Fact]
    public void GivenAnAnalysisFile_WhenTheEffectIsTaken_ThenTheFirstSeriesIsContrastedWithTheRandomInitSeriesOrNullWithoutOne()
    {
        // Given the checkpoint, a --compare checkpoint and the random init (recognised by its source)
        var trained = new AnalysisSeries("a (trained)", "/runs/a/final.ckpt", Report("a (trained)", [10], [0.4]));
        var other = new AnalysisSeries("b", "/runs/b/final.ckpt", Report("b", [30], [0.9]));
        var random = new AnalysisSeries("random init (seed 0)", "random init of tiny-crate, seed 0", Report("random init (seed 0)", [20], [0.8]));
        AnalysisFile Analysis(params AnalysisSeries[] series) => new(AnalysisFile.CurrentSchema, "folder:x", 10, "unmasked", series);

        // When / Then
        var effect = TrainingEffect.Of(Analysis(trained, other, random));
        Assert.NotNull(effect);
        Assert.Equal("random init (seed 0)", effect.RandomInitName);
        Assert.Equal(-0.5, effect.Layers[0].CodingRateRelativeChange, 12);
        Assert.Null(TrainingEffect.Of(Analysis(trained, other)));
        Assert.False(trained.IsRandomInit);
        Assert.True(random.IsRandomInit);
    }
}
