"""Credentials of services that detect-secrets has no plugin for, recognised by their prefix.

Each vendor documents (or its SDKs and leaked samples show) a distinctive prefix and a body of a
fixed alphabet and length: enough for one hyperscan literal each, with no context needed, like
`ghp_` or `sk-ant-`. A stable detector id per vendor, so that a rule file can let a token go to
its own service (`huggingface_token: allow` on huggingface.co) and nowhere else.
detectors.py builds the Detectors: the body is the value, not glued to neighbouring letters,
digits, `_` or `-`, and a placeholder body (`hf_xxxx...`) is no candidate.
"""

from __future__ import annotations

from typing import NamedTuple

from proxy.inspection.findings import Severity


class VendorToken(NamedTuple):
    id: str
    severity: Severity
    patterns: tuple[str, ...]  # hyperscan-compatible bodies, prefix included
    # Longest match (Detector.max_length): for a pattern whose distinctive part is not at its
    # start, and for an open-ended body of the boundary's own alphabet, which hyperscan scans
    # about 20 times slower when it must track where the match starts
    max_length: int | None = None


_HEX = "[a-f0-9]"
_H, _C = Severity.HIGH, Severity.CRITICAL

VENDOR_TOKENS: tuple[VendorToken, ...] = (
    # --- AI and ML services -----------------------------------------------------------------------
    # https://huggingface.co/docs/hub/security-tokens (user `hf_`, organisation `api_org_`)
    VendorToken("huggingface_token", _H, (r"hf_[A-Za-z0-9]{34}", r"api_org_[A-Za-z0-9]{34}")),
    VendorToken("groq_api_key", _H, (r"gsk_[A-Za-z0-9]{52}",)),
    VendorToken("replicate_token", _H, (r"r8_[A-Za-z0-9]{37}",)),
    VendorToken("perplexity_api_key", _H, (r"pplx-[A-Za-z0-9]{48}",)),
    VendorToken("xai_api_key", _H, (r"xai-[A-Za-z0-9]{80}",)),
    VendorToken("openrouter_api_key", _H, (rf"sk-or-v1-{_HEX}{{64}}",)),
    VendorToken("langsmith_api_key", _H, (rf"lsv2_(?:pt|sk)_{_HEX}{{32}}_{_HEX}{{10}}",)),
    VendorToken("pinecone_api_key", _H, (r"pcsk_[A-Za-z0-9_]{50,}",), max_length=256),
    # --- cloud, infrastructure, deployment --------------------------------------------------------
    # https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes
    VendorToken("vault_token", _H, (r"hv[sbr]\.[A-Za-z0-9_-]{24,}",), max_length=1024),
    # https://developer.hashicorp.com/terraform/cloud-docs/users-teams-organizations/api-tokens
    VendorToken("terraform_cloud_token", _H, (r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,80}",),
                max_length=110),
    # https://docs.digitalocean.com/reference/api/create-personal-access-token/
    VendorToken("digitalocean_token", _H, (rf"do[opr]_v1_{_HEX}{{64}}",)),
    # https://grafana.com/docs/grafana/latest/administration/service-accounts/
    VendorToken("grafana_token", _H, (rf"glsa_[A-Za-z0-9]{{32}}_{_HEX}{{8}}",
                                      r"glc_[A-Za-z0-9+/]{32,}={0,2}")),
    VendorToken("databricks_token", _H, (rf"dapi{_HEX}{{32}}(?:-[0-9])?",)),
    VendorToken("supabase_token", _H, (rf"sbp_{_HEX}{{40}}",)),
    VendorToken("pulumi_token", _H, (rf"pul-{_HEX}{{40}}",)),
    VendorToken("doppler_token", _H, (r"dp\.(?:st|pt|ct|sa|scim|audit)\.[A-Za-z0-9_-]{40,44}",)),
    VendorToken("tailscale_key", _H, (r"tskey-[a-z]{3,10}-[A-Za-z0-9]{6,20}-[A-Za-z0-9]{20,40}",)),
    VendorToken("fly_token", _H, (r"fo1_[A-Za-z0-9_-]{43}",)),
    VendorToken("docker_hub_token", _H, (r"dckr_pat_[A-Za-z0-9_-]{27}",)),
    VendorToken("planetscale_token", _H,
                (r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{31,63}[A-Za-z0-9_-]",)),
    VendorToken("new_relic_key", _H, (r"NRAK-[A-Z0-9]{27}",)),
    VendorToken("sentry_token", _H, (r"sntry[su]_[A-Za-z0-9+/=_-]{30,}",)),
    VendorToken("circleci_token", _H, (rf"CCIPAT_[A-Za-z0-9]{{22}}_{_HEX}{{40}}",)),
    # Google OAuth: an access token, and an OAuth client's secret
    VendorToken("google_oauth_token", _H, (r"ya29\.[0-9A-Za-z_-]{30,}",)),
    VendorToken("google_oauth_client_secret", _H, (r"GOCSPX-[A-Za-z0-9_-]{28}",)),
    # Microsoft Entra ID (Azure AD) client secret: three characters, a digit, "Q~", 31-34 more
    VendorToken("azure_ad_client_secret", _H,
                (r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",), max_length=48),
    # --- collaboration and commerce ---------------------------------------------------------------
    VendorToken("atlassian_token", _H, (r"ATATT3[A-Za-z0-9_=-]{30,}",
                                        r"ATBB[A-Za-z0-9_=.-]{28,40}")),
    VendorToken("linear_api_key", _H, (r"lin_api_[A-Za-z0-9]{40}",)),
    VendorToken("notion_token", _H, (r"ntn_[A-Za-z0-9]{46}", r"secret_[A-Za-z0-9]{43}")),
    VendorToken("figma_token", _H, (r"figd_[A-Za-z0-9_-]{40,}",), max_length=256),
    VendorToken("postman_api_key", _H, (rf"PMAK-{_HEX}{{24}}-{_HEX}{{34}}",)),
    VendorToken("shopify_token", _H, (r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",)),
    VendorToken("stripe_webhook_secret", _H, (r"whsec_[A-Za-z0-9+/]{32,64}",)),
    VendorToken("brevo_api_key", _H, (rf"xkeysib-{_HEX}{{64}}-[A-Za-z0-9]{{16}}",)),
    VendorToken("mapbox_secret_token", _H, (r"sk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}",)),
    # --- private keys -----------------------------------------------------------------------------
    # https://age-encryption.org/v1 (Bech32 of the X25519 identity)
    VendorToken("age_secret_key", _C, (r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",)),
)
