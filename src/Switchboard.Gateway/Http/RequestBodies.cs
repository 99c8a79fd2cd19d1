using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Switchboard.Gateway.Http;

/// <summary>Reads request bodies with a size cap.</summary>
internal static class RequestBodies
{
    /// <summary>The whole body, or null when it is longer than <paramref name="maxBytes"/> (read no further than that).</summary>
    public static async Task<ReadOnlyMemory<byte>?> ReadAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            return null;
        }
        // Our cap replaces Kestrel's (30 MB by default) so a cap above it still works and one below answers 413 itself.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = (long)maxBytes + 1;
        }
        var buffer = new ArrayBufferWriter<byte>((int)Math.Max(256, Math.Min(request.ContentLength ?? 4096, maxBytes + 1L)));
        while (true)
        {
            // A body of known length asks for what is left of it, so a small body never grows the buffer to a page.
            var memory = buffer.GetMemory(request.ContentLength is { } length ? (int)Math.Max(1, length - buffer.WrittenCount) : 4096);
            int read;
            try
            {
                read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                // A chunked body can cross Kestrel's limit inside one read, before the check below sees it.
                return null;
            }
            if (read == 0)
            {
                return buffer.WrittenMemory;
            }
            buffer.Advance(read);
            if (buffer.WrittenCount > maxBytes)
            {
                return null;
            }
        }
    }
}
