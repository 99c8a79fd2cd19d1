using System.Text.Json.Serialization;

namespace Switchboard.Node.Hosting;

/// <summary>The body of <c>/healthz</c> and <c>/readyz</c>.</summary>
/// <param name="Status"><c>live</c>, <c>ready</c> or <c>not_ready</c>.</param>
public sealed record HealthStatus(string Status);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(HealthStatus))]
internal sealed partial class NodeJsonContext : JsonSerializerContext;
