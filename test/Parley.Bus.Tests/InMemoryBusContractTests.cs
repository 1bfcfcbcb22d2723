using Parley.Memory;
using Xunit;

namespace Parley.Bus.Tests;

/// <summary>The bus contract against the embedded single-node bus.</summary>
[Trait("Tier", "Bus")]
public sealed class InMemoryBusContractTests : BusContractTests
{
    /// <inheritdoc />
    protected override bool SingleNode => true;

    /// <inheritdoc />
    protected override Task<IMessageBus> CreateBusAsync(string nodeId) => Task.FromResult<IMessageBus>(new InMemoryBus());
}
