using TorchSharp;
public class SmokeTests { [Fact] public void TorchLoads() => Assert.Equal(4f, torch.ones(2, 2).sum().item<float>()); }
