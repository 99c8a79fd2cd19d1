namespace Switchboard.Gateway.Http;

/// <summary>The <c>error.code</c> values of the gateway's HTTP API, with the status each comes with.</summary>
public static class GatewayErrorCodes
{
    /// <summary>401: no credentials (no bearer token, no API key, or a wrong API key).</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>401: the bearer token was refused; the message says why.</summary>
    public const string InvalidToken = "invalid_token";

    /// <summary>400: the request is not what the endpoint expects (for example a dev-mode body without a valid <c>userId</c>).</summary>
    public const string BadRequest = "bad_request";

    /// <summary>400: the <c>session</c> query parameter of <c>/v1/connect</c> is not a well-formed session id.</summary>
    public const string InvalidSession = "invalid_session";

    /// <summary>403: a proxy key asked for something other than a resume ticket (<c>POST /v1/connect?session=…</c> with <c>{"userId":…}</c>).</summary>
    public const string ProxyResumeOnly = "proxy_resume_only";

    /// <summary>400: the body is not valid JSON.</summary>
    public const string BadJson = "bad_json";

    /// <summary>400: <c>to</c> is not <c>user:</c>, <c>conn:</c>, <c>group:</c> followed by a name, or <c>all</c>.</summary>
    public const string BadTarget = "bad_target";

    /// <summary>413: the publish body is larger than <see cref="GatewayOptions.MaxPublishBytes"/>.</summary>
    public const string PayloadTooLarge = "payload_too_large";

    /// <summary>503: no node is live. Retry after the <c>Retry-After</c> delay.</summary>
    public const string NoNodes = "no_nodes";

    /// <summary>503: nodes are live but every one is draining or full. Retry after the <c>Retry-After</c> delay.</summary>
    public const string ClusterFull = "cluster_full";

    /// <summary>503: the gateway could not hand the message to the backplane.</summary>
    public const string Unavailable = "unavailable";

    /// <summary>404: no node with that id is joined to the backplane.</summary>
    public const string UnknownNode = "unknown_node";

    /// <summary>504: the node did not answer the relayed request in time.</summary>
    public const string NodeTimeout = "node_timeout";

    /// <summary>503: the request could not be relayed (the backplane is unreachable, or the node failed to answer).</summary>
    public const string BackplaneUnavailable = "backplane_unavailable";
}
