using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Switchboard.Backplane.Control;

namespace Switchboard.Gateway.Admin;

/// <summary>
/// Reads the body of <c>POST /v1/admin/nodes/{id}/drain</c>: empty or <c>{}</c> is a full drain, <c>{"count":N}</c>
/// with N ≥ 1 a partial one, and nothing else is accepted.
/// </summary>
/// <remarks>
/// Strict on purpose: a full drain stops the node, so a body meant as a partial drain (a misspelt, wrongly cased or
/// null <c>count</c>) must be refused rather than read, as a lenient deserializer would, as "no count".
/// </remarks>
internal static class DrainBody
{
    /// <summary>What a good body is, for error messages.</summary>
    public const string Expected = "the body must be empty, {} (drain the whole node) or {\"count\":N} with N >= 1 (move N connections)";

    private static ReadOnlySpan<byte> Count => "count"u8;

    /// <summary>The drain <paramref name="body"/> asks for, or why it is refused.</summary>
    public static bool TryRead(ReadOnlySpan<byte> body, [NotNullWhen(true)] out DrainRequest? request, [NotNullWhen(false)] out string? problem)
    {
        request = null;
        if (body.IsEmpty)
        {
            request = new DrainRequest();
            problem = null;
            return true;
        }
        try
        {
            problem = Read(body, out var count);
            if (problem is null)
            {
                request = new DrainRequest(count);
            }
        }
        catch (JsonException e)
        {
            problem = $"{Expected}; it is not valid JSON: {e.Message}";
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader reports some malformed strings (bad escapes, invalid UTF-8) this way.
            problem = $"{Expected}; it is not valid JSON: {e.Message}";
        }
        return problem is null;
    }

    private static string? Read(ReadOnlySpan<byte> body, out int? count)
    {
        count = null;
        var reader = new Utf8JsonReader(body);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return $"{Expected}; it is not a JSON object";
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals(Count))
            {
                return $"{Expected}; '{reader.GetString()}' is not one of its members (names are case-sensitive)";
            }
            if (count is not null)
            {
                return "'count' is given more than once";
            }
            reader.Read();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var value))
            {
                return "'count' must be a whole number >= 1; to drain the whole node, send no body or {}";
            }
            if (value < 1)
            {
                return "'count' must be positive";
            }
            count = value;
        }
        // The reader itself throws on a second value after the object; this catches anything it lets through.
        return reader.Read() ? $"{Expected}; there is more after the JSON object" : null;
    }
}
