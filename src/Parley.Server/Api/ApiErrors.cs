using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Parley.Protocol;

namespace Parley.Server.Api;

/// <summary>REST error answers (<c>{"error":{"code","message"}}</c>) and safe JSON body reading.</summary>
internal static class ApiErrors
{
    /// <summary>Largest REST request body.</summary>
    public const int MaxBodyBytes = ProtocolRules.MaxFrameBytes;

    public static Task WriteAsync(HttpContext ctx, string code, string message)
    {
        ctx.Response.StatusCode = ErrorCodes.HttpStatus(code);
        return ctx.Response.WriteAsJsonAsync(new ErrorResponse(new ErrorDetail(code, message)), ProtocolJson.Default.ErrorResponse);
    }

    public static IResult Result(string code, string message) =>
        Results.Json(new ErrorResponse(new ErrorDetail(code, message)), ProtocolJson.Default.ErrorResponse, statusCode: ErrorCodes.HttpStatus(code));

    /// <summary>Reads a JSON body; throws <see cref="ParleyException"/> (invalid / too_large) instead of binding errors.</summary>
    public static async Task<T> ReadBodyAsync<T>(HttpContext ctx, JsonTypeInfo<T> type)
        where T : class
    {
        if (ctx.Request.ContentLength > MaxBodyBytes)
        {
            throw new ParleyException(ErrorCodes.TooLarge, "request body over 64 KiB");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                throw new ParleyException(ErrorCodes.TooLarge, "request body over 64 KiB");
            }

            buffer.Write(chunk, 0, read);
        }

        try
        {
            return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type)
                ?? throw ParleyException.Invalid("expected a JSON object");
        }
        catch (JsonException)
        {
            throw ParleyException.Invalid("malformed JSON body");
        }
        catch (InvalidOperationException)
        {
            throw ParleyException.Invalid("malformed JSON body");
        }
    }
}
