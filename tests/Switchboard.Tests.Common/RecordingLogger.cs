using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Switchboard.Tests.Common;

/// <summary>A logger that keeps every entry, so tests can count what was logged (e.g. "logged once per outage").</summary>
public sealed class RecordingLogger : ILogger
{
    /// <summary>Every entry: level, event name and formatted message.</summary>
    public ConcurrentQueue<(LogLevel Level, string? EventName, string Message)> Entries { get; } = new();

    /// <summary>How many entries carry the event name.</summary>
    public int Count(string eventName) => Entries.Count(e => e.EventName == eventName);

    /// <inheritdoc/>
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    /// <inheritdoc/>
    public bool IsEnabled(LogLevel logLevel) => true;

    /// <inheritdoc/>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, eventId.Name, formatter(state, exception)));
}
