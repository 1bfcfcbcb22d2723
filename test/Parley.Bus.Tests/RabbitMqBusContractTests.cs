using Parley.Bus.RabbitMq;
using Parley.Bus.Tests.Support;
using Parley.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Parley.Bus.Tests;

/// <summary>The bus contract against RabbitMQ: every node is a separate connection to the shared test broker.</summary>
[Trait("Tier", "Bus")]
public sealed class RabbitMqBusContractTests(ITestOutputHelper output) : BusContractTests
{
    /// <inheritdoc />
    protected override async Task<IMessageBus> CreateBusAsync(string nodeId)
    {
        var server = await RabbitMqServer.Shared;
        return new RabbitMqBus(new RabbitMqBusOptions { Uri = server.Uri, NodeId = nodeId }, new TestOutputLogger<RabbitMqBus>(output));
    }

    /// <inheritdoc />
    protected override Task WaitForOwnCopiesAsync(Node node, int published)
    {
        var bus = (RabbitMqBus)node.Bus;
        return Eventually.TrueAsync(() => bus.Counters.EchoesIgnored >= published, TimeSpan.FromSeconds(15), $"{published} copies back from the broker on {node.Id}");
    }
}
