using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace CrateMae.Export;

/// <summary>
/// Builds an ONNX graph node by node with the standard operator set (domain ""), naming every intermediate value
/// uniquely; weights become initializers named by their state-dict keys, so an exported file reads like the model.
/// </summary>
internal sealed class OnnxGraphBuilder(int opset)
{
    private readonly GraphProto _graph = new();
    private readonly HashSet<string> _names = [];
    private int _next;

    /// <summary>The operator-set version the nodes are written for.</summary>
    public int Opset { get; } = opset;

    /// <summary>Declares a float32 graph input; a null dimension is dynamic and named <c>batch</c>.</summary>
    public string Input(string name, params long?[] dims)
    {
        _graph.Input.Add(ValueInfo(name, TensorProto.Types.DataType.Float, dims));
        _names.Add(name);
        return name;
    }

    /// <summary>Renames <paramref name="value"/> to the graph output <paramref name="name"/> (an Identity node).</summary>
    public void Output(string value, string name, TensorProto.Types.DataType type, params long?[] dims)
    {
        Node("Identity", [value], name);
        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    /// <summary>A weight as a float32 initializer named <paramref name="key"/> (each key once).</summary>
    public string Weight(string key, Tensor value)
    {
        if (!_names.Add(key)) return key;
        using var c = value.detach().to(ScalarType.Float32).cpu().contiguous();
        var t = new TensorProto { Name = key, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(c.bytes) };
        t.Dims.AddRange(c.shape);
        _graph.Initializer.Add(t);
        return key;
    }

    /// <summary>An int64 constant initializer (shapes, indices, axes).</summary>
    public string Int64s(params long[] values)
    {
        var t = new TensorProto { Name = Fresh("const_i64"), DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>A float32 scalar constant initializer.</summary>
    public string Scalar(float value)
    {
        var t = new TensorProto { Name = Fresh("const_f32"), DataType = (int)TensorProto.Types.DataType.Float };
        t.FloatData.Add(value);
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Adds a node and returns the name of its (first) output.</summary>
    public string Node(string op, IReadOnlyList<string> inputs, string? output = null, params AttributeProto[] attributes) =>
        NodeMulti(op, inputs, 1, output is null ? null : [output], attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs and returns their names.</summary>
    public string[] NodeMulti(string op, IReadOnlyList<string> inputs, int outputs, string[]? names = null, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = Fresh(op) };
        node.Input.AddRange(inputs);
        var result = names ?? Enumerable.Range(0, outputs).Select(_ => Fresh(op.ToLowerInvariant())).ToArray();
        foreach (var n in result) _names.Add(n);
        node.Output.AddRange(result);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return result;
    }

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>The model: this graph, the opset import and the IR version that opset needs.</summary>
    public ModelProto Build(string graphName, string docString)
    {
        _graph.Name = graphName;
        _graph.DocString = docString;
        var model = new ModelProto
        {
            IrVersion = IrVersionFor(Opset),
            ProducerName = "CrateMae",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "",
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    /// <summary>ONNX IR versions by opset (onnx/docs/Versioning.md): 17–18 → 8, 19–20 → 9, 21–22 → 10.</summary>
    private static long IrVersionFor(int opset) => opset switch
    {
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };

    private string Fresh(string stem)
    {
        string name;
        do name = $"{stem}_{_next++}"; while (!_names.Add(name));
        return name;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
