using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Backplane.Control;
using Switchboard.Gateway.Autoscale;
using Switchboard.Gateway.Tests.Placement;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Autoscale;

/// <summary>The autoscaler's rounds over an in-memory backplane, with nodes that record drain requests.</summary>
public sealed class AutoscalerTests : IAsyncDisposable
{
    private readonly InMemoryBackplane _backplane = new();
    private readonly ManualTimeProvider _time = new();
    private readonly ClusterView _cluster;
    private readonly ConcurrentQueue<string> _drained = new();
    private readonly List<IAsyncDisposable> _cleanup = [];

    public AutoscalerTests() => _cluster = new ClusterView(new ClusterViewOptions(), _time);

    private static AutoscaleOptions Options() => new()
    {
        Enabled = true,
        TargetUtilisation = 0.5,
        MinNodes = 1,
        MaxNodes = 4,
        ScaleUpCooldown = TimeSpan.Zero,
        ScaleDownCooldown = TimeSpan.Zero,
        // Rounds are run by the test; the loop must not interfere.
        Interval = TimeSpan.FromDays(1),
    };

    [Fact]
    public async Task TwoGateways_OnlyOneIsTheActiveAutoscaler()
    {
        var first = await StartAsync(new RecordingProvisioner());
        var second = await StartAsync(new RecordingProvisioner());

        new[] { first.IsActive, second.IsActive }.Count(active => active).ShouldBe(1);
    }

    [Fact]
    public async Task LoadAboveTarget_AsksTheProvisionerForMoreNodes()
    {
        await JoinAsync("n1", connections: 15);
        var provisioner = new RecordingProvisioner();
        var autoscaler = await StartAsync(provisioner);

        await autoscaler.RunRoundAsync(CancellationToken.None).WithTimeout("a round");

        var request = provisioner.Requests.ShouldHaveSingleItem();
        request.ShouldSatisfyAllConditions(
            r => r.Desired.ShouldBe(2),
            r => r.Current.ShouldBe(1),
            r => r.Nodes.ShouldBe(["n1"]),
            r => r.Drained.ShouldBeEmpty());
        _drained.ShouldBeEmpty();
    }

    [Fact]
    public async Task LoadGone_DrainsTheLeastLoadedNodeOverTheBackplane_ThenTellsTheProvisioner()
    {
        await JoinAsync("n1", connections: 3);
        await JoinAsync("n2", connections: 1);
        await JoinAsync("n3", connections: 2);
        var provisioner = new RecordingProvisioner();
        var autoscaler = await StartAsync(provisioner);

        await autoscaler.RunRoundAsync(CancellationToken.None).WithTimeout("a round");

        _drained.ToArray().ShouldBe(["n2"], "one node per round, the least loaded");
        var request = provisioner.Requests.ShouldHaveSingleItem();
        request.Desired.ShouldBe(2);
        request.Drained.ShouldBe(["n2"]);
        request.Nodes.ShouldBe(["n1", "n3"]);
        autoscaler.View().Decisions.ShouldHaveSingleItem().Action.ShouldBe(AutoscaleAction.ScaleDown);
    }

    [Fact]
    public async Task DrainingNodes_AreNotCountedAsCapacity()
    {
        await JoinAsync("n1", connections: 8);
        await JoinAsync("n2", connections: 0, draining: true);
        var provisioner = new RecordingProvisioner();
        var autoscaler = await StartAsync(provisioner);

        await autoscaler.RunRoundAsync(CancellationToken.None).WithTimeout("a round");

        provisioner.Requests.ShouldBeEmpty("n1 alone holds 8 of 20 at a target of 10");
        _drained.ShouldBeEmpty();
        autoscaler.View().ShouldSatisfyAllConditions(
            v => v.Nodes.ShouldBe(1),
            v => v.DrainingNodes.ShouldBe(1),
            v => v.Desired.ShouldBe(1));
    }

    [Fact]
    public async Task ARoundThatThrowsAnUnexpectedException_IsLogged_AndLaterRoundsStillRun()
    {
        await JoinAsync("n1", connections: 15);
        var provisioner = new ThrowingProvisioner();
        var log = new RecordingLogger();
        var options = Options();
        options.Interval = TimeSpan.FromSeconds(10);
        var autoscaler = new Autoscaler(_backplane, _cluster, options, provisioner, TimeSpan.FromSeconds(5), TimeSpan.Zero, _time, new TypedLogger<Autoscaler>(log));
        await autoscaler.StartAsync(CancellationToken.None).WithTimeout("the autoscaler to start");
        _cleanup.Add(autoscaler);

        // Virtual time runs on while the loop's own rounds go: a scale-up every round, which the provisioner throws on.
        await Eventually.TrueAsync(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return provisioner.Calls >= 3;
        }, "three rounds despite the provisioner's exceptions");

        log.Count("ElectedRoundFailed").ShouldBeGreaterThanOrEqualTo(2);
        log.Entries.First(e => e.EventName == "ElectedRoundFailed").Level.ShouldBe(Microsoft.Extensions.Logging.LogLevel.Error);
        await autoscaler.StopAsync(CancellationToken.None).WithTimeout("the autoscaler to stop");
    }

    [Fact]
    public async Task ARoundThatThrowsAnUnexpectedException_IsRecordedAsAFailedDecision()
    {
        await JoinAsync("n1", connections: 15);
        var options = Options();
        options.Interval = TimeSpan.FromSeconds(10);
        var autoscaler = new Autoscaler(_backplane, _cluster, options, new ThrowingProvisioner(), TimeSpan.FromSeconds(5), TimeSpan.Zero, _time,
            NullLogger<Autoscaler>.Instance);
        await autoscaler.StartAsync(CancellationToken.None).WithTimeout("the autoscaler to start");
        _cleanup.Add(autoscaler);

        await Eventually.TrueAsync(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return autoscaler.View().Decisions.Any(d => d.Reason.StartsWith("failed", StringComparison.Ordinal));
        }, "the failure in GET /v1/autoscale's decisions");

        var failure = autoscaler.View().Decisions.First(d => d.Reason.StartsWith("failed", StringComparison.Ordinal));
        failure.Reason.ShouldContain("a bug in the provisioner");
        failure.Action.ShouldBe(AutoscaleAction.None);
        await autoscaler.StopAsync(CancellationToken.None).WithTimeout("the autoscaler to stop");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_cleanup))
        {
            await item.DisposeAsync();
        }
        _cluster.Dispose();
        await _backplane.DisposeAsync();
    }

    private async Task<Autoscaler> StartAsync(IProvisioner provisioner)
    {
        var autoscaler = new Autoscaler(_backplane, _cluster, Options(), provisioner, TimeSpan.FromSeconds(5), TimeSpan.Zero, _time,
            NullLogger<Autoscaler>.Instance);
        await autoscaler.StartAsync(CancellationToken.None).WithTimeout("the autoscaler to start");
        _cleanup.Add(autoscaler);
        return autoscaler;
    }

    private async Task JoinAsync(string nodeId, int connections, bool draining = false)
    {
        _cleanup.Add(await _backplane.JoinAsync(nodeId, new DrainRecorder(nodeId, connections, _drained)));
        _cluster.OnHeartbeat(Candidates.Heartbeat(nodeId, connections, capacity: 20, draining: draining) with { SentAt = _time.GetUtcNow() });
    }

    private sealed class DrainRecorder(string nodeId, int connections, ConcurrentQueue<string> drained) : INodeInbox
    {
        public void OnMessage(RoutedMessage message)
        {
        }

        public ValueTask<byte[]> OnRequestAsync(string kind, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            kind.ShouldBe(NodeControlMessages.DrainKind);
            NodeControlMessages.ReadDrain(body).Count.ShouldBeNull("a whole-node drain");
            drained.Enqueue(nodeId);
            return ValueTask.FromResult(NodeControlMessages.Write(new DrainAnswer(nodeId, connections, connections, Draining: true)));
        }
    }

    private sealed class RecordingProvisioner : IProvisioner
    {
        public ConcurrentQueue<ScaleRequest> Requests { get; } = new();

        public string Name => "recording";

        public Task ScaleAsync(ScaleRequest request, CancellationToken cancellationToken = default)
        {
            Requests.Enqueue(request);
            return Task.CompletedTask;
        }
    }

    private sealed class ThrowingProvisioner : IProvisioner
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public string Name => "throwing";

        public Task ScaleAsync(ScaleRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            // Not a ProvisionerException: a failure no round expects.
            throw new InvalidOperationException("a bug in the provisioner");
        }
    }

    private sealed class TypedLogger<T>(Microsoft.Extensions.Logging.ILogger inner) : Microsoft.Extensions.Logging.ILogger<T>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) => inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
