using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CrateMae.Models;

/// <summary>timm MLP: <c>fc1</c> (D → rD), exact-erf GELU, <c>fc2</c> (rD → D).</summary>
public sealed class VitMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public VitMlp(int dim, int hidden) : base(nameof(VitMlp))
    {
        fc1 = nn.Linear(dim, hidden);
        fc2 = nn.Linear(hidden, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h = MatmulPrecision.Linear(x, fc1.weight!, fc1.bias);
        using var a = nn.functional.gelu(h);
        return MatmulPrecision.Linear(a, fc2.weight!, fc2.bias);
    }
}
