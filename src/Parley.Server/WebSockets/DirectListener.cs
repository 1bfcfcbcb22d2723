using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Parley.Server.Hosting;

namespace Parley.Server.WebSockets;

/// <summary>
/// Kestrel's listener for TCP endpoints, which keeps WebSocket connections to itself. Each accepted connection's first
/// bytes are looked at without taking them (MSG_PEEK): a whole, valid upgrade request for <c>/ws</c> that the node
/// accepts (origin allowed, not draining) is answered 101 here and runs as a <see cref="WebSocketConnection"/> directly
/// on the socket (<see cref="DirectSocket"/>). Every other connection — REST, static files, TLS, HTTP/2, a refused
/// upgrade, one that says nothing for <see cref="HeadTimeout"/> — goes to Kestrel untouched, as a connection of
/// Kestrel's own socket transport (<see cref="SocketConnectionContextFactory"/>), and is served exactly as before.
/// An idle WebSocket so costs its socket and Parley's objects only: no Kestrel connection, pipes or transport loops.
/// Only plain-HTTP endpoints are sorted: on an endpoint Kestrel serves with TLS, every connection is Kestrel's from the
/// first byte, so a cleartext upgrade sent to a TLS port meets the TLS handshake and fails instead of being answered.
/// </summary>
internal sealed class DirectListenerFactory(IServiceProvider services, ServerSettings settings, ILoggerFactory logs) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>Registers the listener; Kestrel binds TCP endpoints with the factory registered last.</summary>
    public static void Use(IServiceCollection serviceCollection) =>
        serviceCollection.AddSingleton<IConnectionListenerFactory, DirectListenerFactory>();

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var count = settings.ListenSockets > 0 ? settings.ListenSockets : Environment.ProcessorCount;
        var sockets = count > 1 && OperatingSystem.IsLinux() && endpoint is IPEndPoint ip
            ? ListenSharedPort.Bind(ip, count)
            : [ListenSharedPort.InUseAsAddressInUse(() => SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint))];
        try
        {
            foreach (var socket in sockets)
            {
                socket.Listen(Math.Max(1, settings.ListenBacklog));
            }
        }
        catch
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            throw;
        }

        return ValueTask.FromResult<IConnectionListener>(new DirectListener(sockets, services, logs));
    }
}

/// <summary>One bound endpoint of <see cref="DirectListenerFactory"/>.</summary>
internal sealed class DirectListener : IConnectionListener
{
    /// <summary>How long a new connection may take to send its first request head before Kestrel is handed it.</summary>
    public static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket[] _listen;
    private readonly IServiceProvider _services;
    private readonly ILogger _log;
    private readonly SocketConnectionContextFactory _kestrel;
    private readonly Channel<ConnectionContext> _forKestrel = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task[] _acceptLoops;

    // Open direct sockets: Kestrel does not know them, so the listener's dispose aborts whatever the node's drain left open.
    private readonly LiveList<DirectSocket> _live = new();

    // 0 until Kestrel has published this endpoint's address, then 1 when it serves plain HTTP, 2 when TLS (see IsPlainHttp).
    private volatile int _plainHttp;

    /// <summary>Serves every socket in <paramref name="listen"/> (all bound to one endpoint), one accept loop each.</summary>
    public DirectListener(Socket[] listen, IServiceProvider services, ILoggerFactory logs)
    {
        _listen = listen;
        _services = services;
        _log = logs.CreateLogger<DirectListener>();
        _kestrel = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), logs.CreateLogger("Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets"));
        EndPoint = listen[0].LocalEndPoint!;
        _acceptLoops = Array.ConvertAll(listen, AcceptLoopAsync);
    }

    public EndPoint EndPoint { get; }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (await _forKestrel.Reader.WaitToReadAsync(cancellationToken))
        {
            if (_forKestrel.Reader.TryRead(out var connection))
            {
                return connection;
            }
        }

        return null;
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        foreach (var socket in _listen)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_acceptLoops);
        _forKestrel.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync();
        _live.Close();
        _live.ForEach(static (socket, _) => socket.Abort(), 0);
        while (_forKestrel.Reader.TryRead(out var connection))
        {
            await connection.DisposeAsync();
        }

        _kestrel.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listen)
    {
        await Task.Yield();
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listen.AcceptAsync();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors, say: the connection waits in the backlog; accepting resumes shortly.
                _log.LogWarning("accept failed: {Error}", e.SocketErrorCode);
                await Task.Delay(10);
                continue;
            }

            _ = SortAsync(socket);
        }
    }

    /// <summary>Waits for the connection's request head and decides whose it is.</summary>
    private async Task SortAsync(Socket socket)
    {
        try
        {
            socket.NoDelay = true;
            if (!IsPlainHttp())
            {
                // TLS (or not known yet): Kestrel's from the first byte; its /ws endpoint serves the upgrade.
                HandToKestrel(socket);
                return;
            }

            var head = await PeekHeadAsync(socket);
            if (head is { } request && TryAccept(socket, request))
            {
                return;
            }

            HandToKestrel(socket);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            socket.Dispose();
        }
        catch (Exception e)
        {
            _log.LogError(e, "sorting a new connection failed");
            socket.Dispose();
        }
    }

    private void HandToKestrel(Socket socket)
    {
        if (!_forKestrel.Writer.TryWrite(_kestrel.Create(socket)))
        {
            socket.Dispose();
        }
    }

    /// <summary>
    /// True when Kestrel serves this endpoint as plain HTTP: the server's published addresses name its port with
    /// <c>http</c> and never with <c>https</c>. Kestrel publishes an endpoint's address right after binding it, before
    /// the host reports started; until then the answer is false, which hands connections to Kestrel (safe either way).
    /// </summary>
    private bool IsPlainHttp()
    {
        if (_plainHttp != 0)
        {
            return _plainHttp == 1;
        }

        string[] addresses;
        try
        {
            addresses = _services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];
        }
        catch (InvalidOperationException)
        {
            return false; // the list changed while read: Kestrel is still binding
        }

        var port = ((IPEndPoint)EndPoint).Port;
        var schemes = addresses
            .Select(a => Uri.TryCreate(a, UriKind.Absolute, out var uri) && uri.Port == port ? uri.Scheme : null)
            .OfType<string>()
            .ToList();
        if (schemes.Count == 0)
        {
            return false; // not published yet
        }

        _plainHttp = schemes.TrueForAll(s => s == Uri.UriSchemeHttp) ? 1 : 2;
        return _plainHttp == 1;
    }

    /// <summary>A whole request head for /ws, as peeked (nothing taken from the socket); null when the connection is Kestrel's.</summary>
    private static async Task<byte[]?> PeekHeadAsync(Socket socket)
    {
        var deadline = Environment.TickCount64 + (long)HeadTimeout.TotalMilliseconds;
        using (var timeout = new CancellationTokenSource(HeadTimeout))
        {
            try
            {
                // Readable: data has arrived (or the peer closed).
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        var peeked = ArrayPool<byte>.Shared.Rent(DirectUpgrade.MaxHeadBytes);
        try
        {
            var wait = 1;
            while (true)
            {
                var n = socket.Receive(peeked, 0, DirectUpgrade.MaxHeadBytes, SocketFlags.Peek);
                switch (DirectUpgrade.Classify(peeked.AsSpan(0, n), out var length))
                {
                    case DirectUpgrade.Head.Complete:
                        return peeked[..length];
                    case DirectUpgrade.Head.NotOurs:
                        return null;
                }

                // Part of a head (a client writing it in pieces): look again shortly; the socket stays readable
                // meanwhile, so a readiness wait would not wait.
                if (n == 0 || Environment.TickCount64 > deadline)
                {
                    return null;
                }

                await Task.Delay(wait);
                wait = Math.Min(wait * 2, 50);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(peeked);
        }
    }

    /// <summary>Accepts the upgrade in <paramref name="head"/> when it is valid and the node takes it; false leaves the socket untouched.</summary>
    private bool TryAccept(Socket socket, byte[] head)
    {
        var node = _services.GetRequiredService<ParleyNode>();
        if (!DirectUpgrade.TryParseUpgrade(head.AsSpan(0, head.Length - 4), out var key, out var origin, out var host) || node.IsDraining
            || !_services.GetRequiredService<OriginPolicy>().Allows(origin, host))
        {
            // Refusals are Kestrel's to answer (its /ws endpoint reads the same bytes).
            return false;
        }

        // Take the head from the socket: it was only peeked.
        var taken = 0;
        while (taken < head.Length)
        {
            taken += socket.Receive(head, taken, head.Length - taken, SocketFlags.None);
        }

        var pipe = new DirectSocket(socket);
        _ = RunAsync(pipe, key);
        return true;
    }

    private async Task RunAsync(DirectSocket pipe, string key)
    {
        if (!_live.Add(pipe))
        {
            pipe.Abort();
            return;
        }

        try
        {
            DirectUpgrade.WriteSwitchingProtocols(pipe.Output, key);
            await pipe.Output.FlushAsync();
            var connection = WebSocketEndpoint.CreateConnection(pipe, pipe, _services);
            await connection.RunAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            _log.LogDebug(e, "direct WebSocket ended");
        }
        catch (Exception e)
        {
            _log.LogError(e, "direct WebSocket failed");
        }
        finally
        {
            _live.Remove(pipe);
            pipe.Close();
        }
    }
}
