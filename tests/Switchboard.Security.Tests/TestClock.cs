namespace Switchboard.Security.Tests;

/// <summary>A clock that moves only when a test says so (this project does not reference Tests.Common).</summary>
internal sealed class TestClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public TestClock()
        : this(new DateTimeOffset(2026, 3, 1, 12, 0, 0, 700, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;

    public void Set(DateTimeOffset now) => _now = now;
}
