using Parley.Memory;
using Xunit;

namespace Parley.Presence.Tests;

/// <summary>The presence contract against the embedded in-memory store.</summary>
[Trait("Tier", "Presence")]
public sealed class InMemoryPresenceTests : PresenceContractTests
{
    protected override IPresenceStore CreateStore() => new InMemoryPresence();
}
