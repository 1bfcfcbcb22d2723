using System.Text;
using System.Text.Json;

namespace Parley.Security.Tests.Support;

/// <summary>
/// The shape of JSON values: each field path with the JSON types seen there, merged over many samples. Two samples of
/// one kind with different optional fields merge into one schema.
/// </summary>
public sealed class Schema
{
    private readonly SortedDictionary<string, SortedDictionary<string, SortedSet<string>>> _kinds = new(StringComparer.Ordinal);

    /// <summary>Adds a sample of <paramref name="kind"/>.</summary>
    public void Add(string kind, JsonElement sample)
    {
        if (!_kinds.TryGetValue(kind, out var paths))
        {
            _kinds[kind] = paths = new(StringComparer.Ordinal);
        }

        Walk(paths, "", sample);
    }

    /// <summary>Adds a non-JSON (text or empty) answer of <paramref name="kind"/>.</summary>
    public void AddText(string kind, string contentType)
    {
        if (!_kinds.TryGetValue(kind, out var paths))
        {
            _kinds[kind] = paths = new(StringComparer.Ordinal);
        }

        Type(paths, "(body)").Add(contentType);
    }

    /// <summary>The kinds seen.</summary>
    public IEnumerable<string> Kinds => _kinds.Keys;

    /// <summary>Every field name seen anywhere.</summary>
    public IEnumerable<string> FieldNames => _kinds.Values.SelectMany(p => p.Keys).Select(p => p.Split('.', '[').Last(s => s.Length > 0).TrimEnd(']')).Distinct();

    /// <summary>The snapshot text: one block per kind, one line per path.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        foreach (var (kind, paths) in _kinds)
        {
            text.Append(kind).Append('\n');
            foreach (var (path, types) in paths)
            {
                text.Append("  ").Append(path.Length == 0 ? "(root)" : path).Append(": ").Append(string.Join(" | ", types)).Append('\n');
            }
        }

        return text.ToString();
    }

    private static SortedSet<string> Type(SortedDictionary<string, SortedSet<string>> paths, string path)
    {
        if (!paths.TryGetValue(path, out var types))
        {
            paths[path] = types = new(StringComparer.Ordinal);
        }

        return types;
    }

    private static void Walk(SortedDictionary<string, SortedSet<string>> paths, string path, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                if (path.Length > 0)
                {
                    Type(paths, path).Add("object");
                }

                foreach (var p in value.EnumerateObject())
                {
                    Walk(paths, path.Length == 0 ? p.Name : path + "." + p.Name, p.Value);
                }

                break;
            case JsonValueKind.Array:
                Type(paths, path.Length == 0 ? "(root)" : path).Add("array");
                foreach (var item in value.EnumerateArray())
                {
                    Walk(paths, path + "[]", item);
                }

                break;
            case JsonValueKind.Number:
                Type(paths, path).Add(value.TryGetInt64(out _) ? "integer" : "number");
                break;
            case JsonValueKind.String:
                Type(paths, path).Add("string");
                break;
            case JsonValueKind.True:
            case JsonValueKind.False:
                Type(paths, path).Add("boolean");
                break;
            case JsonValueKind.Null:
                Type(paths, path).Add("null");
                break;
        }
    }
}
