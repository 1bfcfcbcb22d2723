using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Parley.Server.WebSockets;

/// <summary>
/// Binds several listening sockets to one TCP endpoint with <c>SO_REUSEPORT</c> (Linux), so that each has its own accept
/// queue and the kernel spreads new connections over them. Guarantees: either every socket is bound to the same
/// endpoint or none is (a failure closes those already bound); a port that anything else holds, including another
/// process that also uses <c>SO_REUSEPORT</c>, fails with <see cref="AddressInUseException"/> as a plain bind would, so
/// two nodes started on one port never silently share its connections; port 0 picks a free port for the whole group.
/// </summary>
internal static class ListenSharedPort
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    public static Socket[] Bind(IPEndPoint endpoint, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (endpoint.Port != 0)
        {
            // A plain bind (no SO_REUSEPORT) conflicts with every socket on the port, whatever its options: it fails
            // here where the group's own binds would join another process's group.
            using var probe = Create(endpoint, reusePort: false);
            Bind(probe, endpoint);
        }

        var sockets = new List<Socket>(count);
        try
        {
            var first = Create(endpoint, reusePort: true);
            sockets.Add(first);
            Bind(first, endpoint);
            var bound = (IPEndPoint)first.LocalEndPoint!;
            for (var i = 1; i < count; i++)
            {
                var socket = Create(endpoint, reusePort: true);
                sockets.Add(socket);
                Bind(socket, bound);
            }

            return [.. sockets];
        }
        catch
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            throw;
        }
    }

    private static Socket Create(IPEndPoint endpoint, bool reusePort)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            if (reusePort)
            {
                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Runs a bind, reporting a port in use as Kestrel expects it (<see cref="AddressInUseException"/>).</summary>
    public static T InUseAsAddressInUse<T>(Func<T> bind)
    {
        try
        {
            return bind();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException(e.Message, e);
        }
    }

    private static void Bind(Socket socket, IPEndPoint endpoint) =>
        InUseAsAddressInUse(() =>
        {
            socket.Bind(endpoint);
            return socket;
        });
}
