using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Parley.Protocol;

namespace Parley.Client;

/// <summary>The REST half of the protocol.</summary>
public sealed partial class ParleyClient
{
    /// <summary>Registers a user; returns their token.</summary>
    public static Task<AuthResponse> RegisterAsync(HttpClient http, string username, string password, CancellationToken ct = default) =>
        PostAsync(http, "api/v1/auth/register", new Credentials(username, password), ProtocolJson.Default.Credentials, ProtocolJson.Default.AuthResponse, null, ct);

    /// <summary>Logs a user in; returns their token.</summary>
    public static Task<AuthResponse> LoginAsync(HttpClient http, string username, string password, CancellationToken ct = default) =>
        PostAsync(http, "api/v1/auth/login", new Credentials(username, password), ProtocolJson.Default.Credentials, ProtocolJson.Default.AuthResponse, null, ct);

    /// <summary>Creates a room owned by the user.</summary>
    public async Task<ConversationDto> CreateRoomAsync(string name, bool isPrivate = false, CancellationToken ct = default) =>
        await PostAsync(_http, "api/v1/rooms", new CreateRoomRequest(name, isPrivate), ProtocolJson.Default.CreateRoomRequest, ProtocolJson.Default.ConversationDto, await TokenAsync(ct), ct);

    /// <summary>Joins a public room.</summary>
    public async Task<ConversationDto> JoinAsync(string roomId, CancellationToken ct = default) =>
        await PostAsync<UsernameRequest, ConversationDto>(_http, $"api/v1/rooms/{Uri.EscapeDataString(roomId)}/join", null, null, ProtocolJson.Default.ConversationDto, await TokenAsync(ct), ct);

    /// <summary>Adds a user to a room the caller owns.</summary>
    public async Task AddMemberAsync(string roomId, string username, CancellationToken ct = default) =>
        await PostAsync(_http, $"api/v1/rooms/{Uri.EscapeDataString(roomId)}/members", new UsernameRequest(username), ProtocolJson.Default.UsernameRequest, ProtocolJson.Default.ConversationDto, await TokenAsync(ct), ct);

    /// <summary>Leaves a room.</summary>
    public async Task LeaveAsync(string roomId, CancellationToken ct = default) =>
        await PostAsync<UsernameRequest, ConversationDto>(_http, $"api/v1/rooms/{Uri.EscapeDataString(roomId)}/leave", null, null, null, await TokenAsync(ct), ct);

    /// <summary>Opens (or creates) the DM with a user.</summary>
    public async Task<ConversationDto> OpenDmAsync(string username, CancellationToken ct = default) =>
        await PostAsync(_http, "api/v1/dms", new UsernameRequest(username), ProtocolJson.Default.UsernameRequest, ProtocolJson.Default.ConversationDto, await TokenAsync(ct), ct);

    /// <summary>The user's conversations.</summary>
    public async Task<IReadOnlyList<ConversationDto>> GetConversationsAsync(CancellationToken ct = default) =>
        await GetAsync(_http, "api/v1/conversations", ProtocolJson.Default.ListConversationDto, await TokenAsync(ct), ct);

    /// <summary>Public rooms.</summary>
    public async Task<IReadOnlyList<RoomSummaryDto>> GetPublicRoomsAsync(CancellationToken ct = default) =>
        await GetAsync(_http, "api/v1/rooms", ProtocolJson.Default.ListRoomSummaryDto, await TokenAsync(ct), ct);

    /// <summary>A window of history (see protocol v1 for after/before).</summary>
    public async Task<MessagePageDto> GetHistoryAsync(string conv, long? after = null, long? before = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (after is { } a)
        {
            query.Add("after=" + a.ToString(CultureInfo.InvariantCulture));
        }

        if (before is { } b)
        {
            query.Add("before=" + b.ToString(CultureInfo.InvariantCulture));
        }

        if (limit is { } l)
        {
            query.Add("limit=" + l.ToString(CultureInfo.InvariantCulture));
        }

        var path = $"api/v1/conversations/{Uri.EscapeDataString(conv)}/messages" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        return await GetAsync(_http, path, ProtocolJson.Default.MessagePageDto, await TokenAsync(ct), ct);
    }

    private async Task<string> TokenAsync(CancellationToken ct) => _token ??= await _options.TokenProvider(ct);

    private static async Task<TOut> GetAsync<TOut>(HttpClient http, string path, JsonTypeInfo<TOut> outType, string? token, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        return (await SendAsync(http, request, outType, token, ct))!;
    }

    private static async Task<TOut> PostAsync<TIn, TOut>(HttpClient http, string path, TIn? body, JsonTypeInfo<TIn>? inType, JsonTypeInfo<TOut>? outType, string? token, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (body is not null && inType is not null)
        {
            request.Content = JsonContent.Create(body, inType);
        }

        return (await SendAsync(http, request, outType, token, ct))!;
    }

    private static async Task<TOut?> SendAsync<TOut>(HttpClient http, HttpRequestMessage request, JsonTypeInfo<TOut>? outType, string? token, CancellationToken ct)
    {
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            ErrorResponse? error = null;
            try
            {
                error = await response.Content.ReadFromJsonAsync(ProtocolJson.Default.ErrorResponse, ct);
            }
            catch (JsonException)
            {
            }

            throw new ParleyClientException(error?.Error.Code ?? "unavailable", error?.Error.Message ?? $"HTTP {(int)response.StatusCode}");
        }

        if (outType is null || response.StatusCode == System.Net.HttpStatusCode.NoContent)
        {
            return default;
        }

        return await response.Content.ReadFromJsonAsync(outType, ct);
    }
}
