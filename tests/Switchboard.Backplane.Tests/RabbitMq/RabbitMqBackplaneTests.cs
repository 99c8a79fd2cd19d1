using Switchboard.Backplane.RabbitMq;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests.RabbitMq;

/// <summary>Starts (or shares) one broker for all RabbitMQ backplane tests of this assembly.</summary>
public sealed class BrokerFixture : IAsyncLifetime
{
    public RabbitMqBroker Broker { get; private set; } = null!;

    public async Task InitializeAsync() => Broker = await RabbitMqBroker.StartOrShareAsync();

    public async Task DisposeAsync() => await Broker.DisposeAsync();

    /// <summary>Options on this broker with a prefix of their own, so tests sharing the broker never see each other.</summary>
    public RabbitMqBackplaneOptions Options(string? prefix = null) =>
        new() { Uri = Broker.Url, Prefix = prefix ?? $"t{Guid.NewGuid():N}" };
}

[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "RabbitMQ broker";
}

/// <summary>The backplane specification, run on RabbitMQ: every delivery crosses a real broker.</summary>
[Collection(BrokerCollection.Name)]
public sealed class RabbitMqBackplaneTests(BrokerFixture fixture) : BackplaneSpecification
{
    protected override async Task<IBackplane> CreateBackplaneAsync() =>
        await RabbitMqBackplane.ConnectAsync(fixture.Options());
}
