using System.Globalization;
using Parley.Protocol;
using Parley.Server.Auth;

namespace Parley.Server.Api;

/// <summary>The REST API of protocol v1 under <c>/api/v1</c>, plus health and readiness.</summary>
internal static class RestApi
{
    public static void MapParleyApi(this WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (ParleyNode node, CancellationToken ct) =>
        {
            var (ready, detail) = await node.CheckReadyAsync(ct);
            return Results.Text(detail, statusCode: ready ? 200 : 503);
        });

        var api = app.MapGroup("/api/v1");
        api.AddEndpointFilter(ErrorFilter);

        api.MapPost("/auth/register", async (HttpContext ctx, AccountService accounts) =>
        {
            var body = await ApiErrors.ReadBodyAsync(ctx, ProtocolJson.Default.Credentials);
            var auth = await accounts.RegisterAsync(body.Username, body.Password, ClientAddress.ThrottleKey(ctx.Connection.RemoteIpAddress));
            return Results.Json(auth, ProtocolJson.Default.AuthResponse, statusCode: 201);
        });

        api.MapPost("/auth/login", async (HttpContext ctx, AccountService accounts) =>
        {
            var body = await ApiErrors.ReadBodyAsync(ctx, ProtocolJson.Default.Credentials);
            var auth = await accounts.LoginAsync(body.Username, body.Password, ClientAddress.ThrottleKey(ctx.Connection.RemoteIpAddress));
            return Results.Json(auth, ProtocolJson.Default.AuthResponse);
        });

        api.MapPost("/rooms", async (HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            var body = await ApiErrors.ReadBodyAsync(ctx, ProtocolJson.Default.CreateRoomRequest);
            var room = await node.Chat.CreateRoomAsync(user, body.Name, body.Private ?? false);
            return Results.Json(room, ProtocolJson.Default.ConversationDto, statusCode: 201);
        });

        api.MapGet("/rooms", async (HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            await RequireUserAsync(ctx, tokens);
            var rooms = await node.Chat.PublicRoomsAsync();
            return Results.Json(rooms.ToList(), ProtocolJson.Default.ListRoomSummaryDto);
        });

        api.MapPost("/rooms/{id}/join", async (string id, HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            return Results.Json(await node.Chat.JoinAsync(user, id), ProtocolJson.Default.ConversationDto);
        });

        api.MapPost("/rooms/{id}/members", async (string id, HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            var body = await ApiErrors.ReadBodyAsync(ctx, ProtocolJson.Default.UsernameRequest);
            return Results.Json(await node.Chat.AddMemberAsync(user, id, body.Username), ProtocolJson.Default.ConversationDto);
        });

        api.MapPost("/rooms/{id}/leave", async (string id, HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            await node.Chat.LeaveAsync(user, id);
            return Results.NoContent();
        });

        api.MapPost("/dms", async (HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            var body = await ApiErrors.ReadBodyAsync(ctx, ProtocolJson.Default.UsernameRequest);
            return Results.Json(await node.Chat.OpenDmAsync(user, body.Username), ProtocolJson.Default.ConversationDto);
        });

        api.MapGet("/conversations", async (HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            var list = await node.Chat.ConversationsAsync(user.UserId);
            return Results.Json(list.ToList(), ProtocolJson.Default.ListConversationDto);
        });

        api.MapGet("/conversations/{id}/messages", async (string id, HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            var q = ctx.Request.Query;
            var page = await node.Chat.HistoryAsync(user.UserId, id, QueryLong(q, "after"), QueryLong(q, "before"), QueryLimit(q));
            return Results.Json(new MessagePageDto(page.Messages.Select(m => m.ToDto()).ToList(), page.HasMore), ProtocolJson.Default.MessagePageDto);
        });

        api.MapPost("/conversations/{id}/messages", async (string id, HttpContext ctx, ParleyNode node, TokenService tokens) =>
        {
            var user = await RequireUserAsync(ctx, tokens);
            var body = await ApiErrors.ReadBodyAsync(ctx, ProtocolJson.Default.SendRequest);
            if (!ProtocolRules.IsValidId(id))
            {
                throw ParleyException.NotFound();
            }

            var (message, duplicate) = await node.Chat.SendAsync(user, id, body.ClientMsgId ?? "", body.Body ?? "");
            return Results.Json(message.ToDto(), ProtocolJson.Default.MessageDto, statusCode: duplicate ? 200 : 201);
        });

        api.MapGet("/stats", async (ParleyNode node) => Results.Json(await StatsAsync(node), ProtocolJson.Default.StatsDto));

        api.MapFallback((HttpContext ctx) => ApiErrors.Result(ErrorCodes.NotFound, "no such endpoint"));
    }

    private static async Task<StatsDto> StatsAsync(ParleyNode node)
    {
        try
        {
            var stats = await node.Presence.StatsAsync(CancellationToken.None);
            return new StatsDto(stats.OnlineUsers, stats.Connections, node.Options.NodeId, stats.Nodes.Select(n => new NodeDto(n.Id, n.Connections)).ToList());
        }
        catch (PresenceUnavailableException)
        {
            // Presence is down: this node's own figures are all that is known.
            var here = node.Hub.SessionCount;
            return new StatsDto(node.Hub.OnlineUserCount, here, node.Options.NodeId, [new NodeDto(node.Options.NodeId, here)]);
        }
    }

    private static long? QueryLong(IQueryCollection query, string name)
    {
        var raw = query[name].ToString();
        if (raw.Length == 0)
        {
            return null;
        }

        return long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= ProtocolRules.MaxSeq
            ? value
            : throw ParleyException.Invalid($"'{name}' must be an integer from 0 to 2^53-1");
    }

    /// <summary>The history <c>limit</c>; a value past int's range stays out of range (the history call refuses it) instead of wrapping.</summary>
    private static int? QueryLimit(IQueryCollection query) =>
        QueryLong(query, "limit") is { } limit ? (int)Math.Min(limit, int.MaxValue) : null;

    private static async Task<UserRef> RequireUserAsync(HttpContext ctx, TokenService tokens)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        var identity = header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase)
            ? await tokens.ValidateAsync(header[Bearer.Length..].Trim())
            : null;
        return identity is null
            ? throw new ParleyException(ErrorCodes.Unauthorized, "missing, bad or expired token")
            : new UserRef(identity.UserId, identity.Username);
    }

    private static async ValueTask<object?> ErrorFilter(EndpointFilterInvocationContext ctx, EndpointFilterDelegate next)
    {
        try
        {
            return await next(ctx);
        }
        catch (ParleyException e)
        {
            return ApiErrors.Result(e.Code, e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ApiErrors.Result(ErrorCodes.TooLarge, "request body too large");
        }
        catch (BadHttpRequestException)
        {
            return ApiErrors.Result(ErrorCodes.Invalid, "bad request");
        }
    }
}
