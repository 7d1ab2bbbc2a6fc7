using static TorchSharp.torch;

namespace CrateMae.Interop;

/// <summary>
/// A storage a PyTorch pickle refers to through its persistent id
/// <c>('storage', torch.&lt;Type&gt;Storage, key, location, element_count)</c>; the bytes live in the archive record
/// <c>data/&lt;key&gt;</c>.
/// </summary>
/// <param name="Key">The record key (e.g. <c>"0"</c>).</param>
/// <param name="DType">Element type given by the storage class.</param>
/// <param name="Location">Device the tensor was saved from (e.g. <c>cpu</c>, <c>cuda:0</c>); data is always loaded to the CPU.</param>
/// <param name="ElementCount">Number of elements the storage holds.</param>
public sealed record StorageReference(string Key, ScalarType DType, string Location, long ElementCount);
