namespace Parley.Delivery;

/// <summary>The transport side of one client connection, as the hub sees it.</summary>
public interface IFrameSink
{
    /// <summary>
    /// Queues one complete frame for sending, without blocking. False when the connection's bounded outbound queue is
    /// full (the transport then closes it as a slow consumer) or the connection is closed. The bytes may be shared with
    /// other connections and must not be modified.
    /// </summary>
    bool TrySend(ReadOnlyMemory<byte> frame);

    /// <summary>
    /// Like <see cref="TrySend"/>, but the frame may wait for <see cref="Flush"/> (or the next <see cref="TrySend"/>) before
    /// it is written, so frames queued together leave in one socket write. The caller must see that a flush follows (its
    /// own, or a later <see cref="TrySend"/>'s). A transport may start writing before that once a write's worth waits.
    /// </summary>
    bool TryQueue(ReadOnlyMemory<byte> frame) => TrySend(frame);

    /// <summary>Starts writing whatever <see cref="TryQueue"/> left waiting. Cheap when nothing waits.</summary>
    void Flush()
    {
    }

    /// <summary>Closes the connection with a WebSocket close code and reason. Idempotent.</summary>
    void Close(int closeCode, string reason);
}
