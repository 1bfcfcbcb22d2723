using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Parley.Server.Hosting;

/// <summary>
/// The memory Kestrel's transport reads and writes sockets with: 4 KiB blocks, of which at most
/// <see cref="MaxRetainedBlocks"/> are kept for reuse. Kestrel's own pool keeps every block it ever had out at once
/// (until its slow idle eviction), so a burst — thousands of idle connections' heartbeats arriving together — would
/// leave megabytes pooled for good: at 5,000 idle connections, 2,000 blocks (1.6 KiB per connection). Here a block
/// beyond the cap goes back to the garbage collector when returned. The blocks are ordinary arrays: the socket
/// transport pins a buffer only for the length of an operation.
/// </summary>
internal sealed class TransportMemory : IMemoryPoolFactory<byte>
{
    /// <summary>Blocks kept for reuse (2 MiB): more than a busy node has in flight between two reads of its sockets.</summary>
    public const int MaxRetainedBlocks = 512;

    /// <inheritdoc />
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new BlockPool();

    /// <summary>Registers the pool for Kestrel (its socket transport asks the container for the factory).</summary>
    public static void Use(IServiceCollection services) => services.AddSingleton<IMemoryPoolFactory<byte>, TransportMemory>();

    private sealed class BlockPool : MemoryPool<byte>
    {
        private const int BlockSize = 4096;
        private readonly Stack<Block> _free = new(MaxRetainedBlocks);
        private readonly Lock _lock = new();

        public override int MaxBufferSize => BlockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
            lock (_lock)
            {
                if (_free.TryPop(out var block))
                {
                    return block;
                }
            }

            return new Block(this);
        }

        private void Return(Block block)
        {
            lock (_lock)
            {
                if (_free.Count < MaxRetainedBlocks)
                {
                    _free.Push(block);
                }
            }
        }

        protected override void Dispose(bool disposing)
        {
            lock (_lock)
            {
                _free.Clear();
            }
        }

        private sealed class Block(BlockPool pool) : IMemoryOwner<byte>
        {
            public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(BlockSize);

            public void Dispose() => pool.Return(this);
        }
    }
}
