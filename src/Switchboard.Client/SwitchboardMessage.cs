using System.Text.Json;

namespace Switchboard.Client;

/// <summary>A <c>message</c> frame delivered to this connection.</summary>
/// <param name="From">The sender: <c>user:&lt;id&gt;</c>, or <c>api</c> for messages published through the gateway's HTTP API.</param>
/// <param name="To">The target the sender addressed: <c>user:…</c>, <c>conn:…</c>, <c>group:…</c> or <c>all</c>.</param>
/// <param name="Data">The payload as the sender wrote it. It owns its memory: keep it as long as needed.</param>
/// <param name="Seq">
/// The position of the message in this session; it grows by one per message the node sent, so a repeat the client
/// dropped (<see cref="SwitchboardClientOptions.DropRepeats"/>) leaves a gap.
/// </param>
public sealed record SwitchboardMessage(string From, string To, JsonElement Data, long Seq);
