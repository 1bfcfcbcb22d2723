using Parley.Testing;
using Xunit;

namespace Parley.Bus.Tests;

/// <summary>The broker fixture itself, where the benchmark depends on it.</summary>
[Trait("Tier", "Bus")]
public sealed class RabbitMqFixtureTests
{
    [Fact]
    public async Task The_fixture_names_the_Erlang_VM_of_its_own_broker()
    {
        var server = await RabbitMqServer.Shared;

        // The benchmark reads this process's CPU time as the broker's: it must be the VM, and the one of this node.
        var pid = Assert.IsType<int>(server.BrokerPid);
        Assert.Equal("beam.smp", (await File.ReadAllTextAsync($"/proc/{pid}/comm")).Trim());
        var environment = (await File.ReadAllTextAsync($"/proc/{pid}/environ")).Split('\0');
        Assert.Contains($"RABBITMQ_NODENAME={server.NodeName}", environment);
    }
}
