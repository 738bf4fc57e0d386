"""QRS JSON shapes: condensed and full views of every repository entity.

The bare list endpoint returns `condensed_*`, `/full` and `/{id}` return `full_*`
(reference §1.4, §1.7.3-§1.7.7, §1.8).  Filters are always evaluated on the full shape.
"""

from __future__ import annotations

from typing import Any

from .state import (
    CAPACITY_COUNTS,
    NULL_GUID,
    TOKEN_BLOCKS,
    App,
    CustomPropertyDefinition,
    CustomPropertyValue,
    ExecutionDetail,
    ExecutionResult,
    ExecutionSession,
    LicenseAccess,
    Meta,
    SiteInfo,
    State,
    Stream,
    Tag,
    Task,
    User,
    derive_id,
    iso,
    parse_iso,
    utcnow,
)

# Real apps carry an opaque migration hash; a fixed one is as good as any for clients.
MIGRATION_HASH = "9e6a7d6f3b4a1c8d2e5f0a9b8c7d6e5f4a3b2c1d"


def _meta(meta: Meta) -> dict[str, Any]:
    return {
        "createdDate": iso(meta.created),
        "modifiedDate": iso(meta.modified),
        "modifiedByUserName": meta.modified_by,
    }


audit = _meta  # the audit columns, for the shape functions of other modules (triggers.py)


def tag_ref(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "privileges": None}


def full_tag(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, **_meta(tag.meta), "name": tag.name, "privileges": None, "schemaPath": "Tag"}


def stream_ref(stream: Stream) -> dict[str, Any]:
    return {"id": stream.id, "name": stream.name, "privileges": None}


def full_stream(stream: Stream, owner: User) -> dict[str, Any]:
    return {
        "id": stream.id,
        **_meta(stream.meta),
        "customProperties": [],
        "owner": user_ref(owner),
        "name": stream.name,
        "tags": [],
        "privileges": None,
        "schemaPath": "Stream",
    }


def definition_ref(d: CustomPropertyDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "valueType": d.value_type,
        "choiceValues": list(d.choice_values),
        "privileges": None,
    }


def condensed_definition(d: CustomPropertyDefinition) -> dict[str, Any]:
    return definition_ref(d)


def full_definition(d: CustomPropertyDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        **_meta(d.meta),
        "name": d.name,
        "valueType": d.value_type,
        "choiceValues": list(d.choice_values),
        "objectTypes": list(d.object_types),
        "description": d.description,
        "privileges": None,
        "schemaPath": "CustomPropertyDefinition",
    }


def cp_value(v: CustomPropertyValue) -> dict[str, Any]:
    return {
        "id": v.id,
        **_meta(v.meta),
        "value": v.value,
        "definition": definition_ref(v.definition),
        "schemaPath": "CustomPropertyValue",
    }


def user_ref(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "userId": user.user_id,
        "userDirectory": user.user_directory,
        "userDirectoryConnectorName": user.user_directory,
        "name": user.name,
        "privileges": None,
    }


def condensed_user(user: User) -> dict[str, Any]:
    return user_ref(user)


def full_user(user: User) -> dict[str, Any]:
    attributes = []
    if user.email:
        attributes.append(
            {
                "id": _derived(user.id, "email"),
                **_meta(user.meta),
                "attributeType": "Email",
                "attributeValue": user.email,
                "externalId": user.email,
                "schemaPath": "UserAttribute",
            }
        )
    return {
        "id": user.id,
        **_meta(user.meta),
        "customProperties": [cp_value(v) for v in user.custom_properties],
        "userId": user.user_id,
        "userDirectory": user.user_directory,
        "userDirectoryConnectorName": user.user_directory,
        "name": user.name,
        "roles": list(user.roles),
        "attributes": attributes,
        "inactive": user.inactive,
        "removedExternally": user.removed_externally,
        "blacklisted": user.blacklisted,
        "deleteProhibited": False,
        "tags": [tag_ref(t) for t in user.tags],
        "privileges": None,
        "schemaPath": "User",
    }


def _derived(base: str, suffix: str) -> str:
    return derive_id(suffix, base)


def condensed_app(app: App, site: SiteInfo) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "appId": "",
        "publishTime": iso(app.publish_time),
        "published": app.published,
        "stream": stream_ref(app.stream) if app.stream else None,
        "savedInProductVersion": site.saved_in_product_version,
        "migrationHash": MIGRATION_HASH,
        "availabilityStatus": 0,
        "privileges": None,
    }


def full_app(app: App, site: SiteInfo) -> dict[str, Any]:
    return {
        "id": app.id,
        **_meta(app.meta),
        "customProperties": [cp_value(v) for v in app.custom_properties],
        "owner": user_ref(app.owner),
        "name": app.name,
        "appId": "",
        "sourceAppId": NULL_GUID,
        "targetAppId": NULL_GUID,
        "publishTime": iso(app.publish_time),
        "published": app.published,
        "tags": [tag_ref(t) for t in app.tags],
        "description": app.description,
        "stream": stream_ref(app.stream) if app.stream else None,
        "fileSize": app.file_size,
        "lastReloadTime": app.lastReloadTime,
        "thumbnail": "",
        "savedInProductVersion": site.saved_in_product_version,
        "migrationHash": MIGRATION_HASH,
        "dynamicColor": "",
        "availabilityStatus": 0,
        "privileges": None,
        "schemaPath": "App",
    }


def detail(d: ExecutionDetail) -> dict[str, Any]:
    return {
        "id": d.id,
        "detailsType": d.details_type,
        "message": d.message,
        "detailCreatedDate": iso(d.created),
        "privileges": None,
    }


def execution_result(r: ExecutionResult) -> dict[str, Any]:
    meta = r.meta or Meta(created=utcnow(), modified=utcnow())
    return {
        "id": r.id,
        **_meta(meta),
        "executingNodeName": r.executing_node_name,
        "status": r.status,
        "startTime": iso(r.start_time),
        "stopTime": iso(r.stop_time),
        "duration": r.duration,
        "fileReferenceID": r.file_reference_id,
        "scriptLogAvailable": r.script_log_available,
        "details": [detail(d) for d in r.details],
        "scriptLogLocation": r.script_log_location,
        "scriptLogSize": r.script_log_size,
        "privileges": None,
    }


def full_execution_result(r: ExecutionResult) -> dict[str, Any]:
    """The standalone /qrs/executionresult entity: the nested shape plus its foreign keys."""
    return {
        **execution_result(r),
        "taskID": r.task_id,
        "executionID": r.execution_id,
        "appID": r.app_id or NULL_GUID,
        "executingNodeID": r.executing_node_id,
        "schemaPath": "ExecutionResult",
    }


def condensed_task(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "taskType": task.task_type,
        "enabled": task.enabled,
        "taskSessionTimeout": task.task_session_timeout,
        "maxRetries": task.max_retries,
        "privileges": None,
    }


def full_task(task: Task, site: SiteInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        **_meta(task.meta),
        "customProperties": [cp_value(v) for v in task.custom_properties],
    }
    if task.app is not None:
        body["app"] = condensed_app(task.app, site)
        body["isManuallyTriggered"] = task.is_manually_triggered
        body["isPartialReload"] = False
    if task.task_type == 1:
        body["path"] = task.path
        body["parameters"] = task.parameters
    if task.task_type == 2:
        body["userDirectory"] = {**(task.user_directory or {}), "privileges": None}
    body.update(
        {
            "operational": {
                "id": task.operational_id,
                "lastExecutionResult": execution_result(task.last_result),
                "nextExecution": iso(None),
                "privileges": None,
            },
            "name": task.name,
            "taskType": task.task_type,
            "enabled": task.enabled,
            "taskSessionTimeout": task.task_session_timeout,
            "maxRetries": task.max_retries,
            "tags": [tag_ref(t) for t in task.tags],
            "privileges": None,
            "schemaPath": task.schema_path,
        }
    )
    return body


def full_execution_session(s: ExecutionSession, site: SiteInfo) -> dict[str, Any]:
    task = s.task
    return {
        "id": s.id,
        **_meta(s.result.meta or Meta(created=utcnow(), modified=utcnow())),
        "executingNodeID": s.result.executing_node_id,
        "executingNode": site.hostname,
        "executionResult": full_execution_result(s.result),
        "abortAt": iso(s.abort_at),
        "retries": s.retries,
        "abortReason": s.abort_reason,
        "app": condensed_app(task.app, site) if task.app else None,
        "user": user_ref(s.user),
        "reloadTask": condensed_task(task) if task.task_type == 0 else None,
        "externalProgramTask": condensed_task(task) if task.task_type == 1 else None,
        "userSyncTask": condensed_task(task) if task.task_type == 2 else None,
        "privileges": None,
        "schemaPath": "ExecutionSession",
    }


def about(site: SiteInfo) -> dict[str, Any]:
    return {
        "buildVersion": site.build_version,
        "buildDate": site.build_date,
        "databaseProvider": site.database_provider,
        "nodeType": 1,
        "sharedPersistence": True,
        "requiresBootstrap": False,
        "singleNodeOnly": False,
        "schemaPath": "About",
    }


def systeminfo(site: SiteInfo) -> dict[str, Any]:
    """Port 9032 /v1/systeminfo, the non-QRS call Butler uses for the product version."""
    return {
        "productName": site.product_name,
        "deploymentType": "QlikSenseServer",
        "version": site.version,
        "releaseLabel": site.release_label,
        "contentHash": "2ea8a6c4f3b1d9e7a5c3b1f9d7e5a3c1",
        "senseId": "qliksenseserver:" + site.version,
        "deprecatedProductVersion": "4.0.X",
        "copyrightYearRange": "1993-2024",
    }


def _expired(valid_to: str) -> bool:
    """The key's `Valid To:` date has passed (an unreadable date counts as not expired)."""
    try:
        return parse_iso(valid_to[:10] + "T23:59:59.999Z") < utcnow()
    except ValueError:
        return False


def license_entity(state: State) -> dict[str, Any]:
    site = state.site
    meta = Meta(created=parse_iso("2023-01-01T09:00:00.000Z"), modified=parse_iso("2023-01-01T09:05:00.000Z"))
    key_details = "\n".join(
        (
            "Valid From: 2023-01-01",
            f"Valid To: {site.license_valid_to}",
            "Product: Qlik Sense Enterprise",
            f"Professional Users: {site.professional_total}",
            f"Analyzer Users: {site.analyzer_total}",
        )
    )
    return {
        "id": _derived(site.license_serial, "license"),
        **_meta(meta),
        "lef": f"{site.license_serial};{site.license_name};{site.license_organization};",
        "serial": site.license_serial,
        "check": "4711",
        "key": "",
        "keyDetails": key_details,
        "name": site.license_name,
        "organization": site.license_organization,
        "product": 0,
        "numberOfCores": 0,
        "isExpired": _expired(site.license_valid_to),
        "expiredReason": "",
        "isBlacklisted": False,
        "isInvalid": False,
        "isSubscription": False,
        "isCloudServices": False,
        "isElastic": False,
        "updated": True,
        "privileges": None,
        "schemaPath": "License",
    }


def _access_block(state: State, kind: str, total: int) -> dict[str, Any]:
    items = [a for a in state.licenses.values() if a.kind == kind]
    quarantined = sum(1 for a in items if a.quarantined)
    used = len(items) - quarantined
    return {
        "enabled": True,
        "allocated": used,
        "available": max(total - len(items), 0),
        "excess": 0,
        "quarantined": quarantined,
        "total": total,
        "used": used,
    }


def access_type_overview(state: State) -> dict[str, Any]:
    """Professional and analyzer access always; token licensing and analyzer capacity as seeded
    (disabled, with Qlik's default token costs, when not)."""
    site, tokens, capacity = state.site, state.tokens, state.analyzer_capacity
    return {
        "tokensEnabled": tokens is not None,
        "totalTokens": tokens.total if tokens else 0,
        "availableTokens": tokens.available if tokens else 0,
        "professionalAccess": _access_block(state, "professional", site.professional_total),
        "analyzerAccess": _access_block(state, "analyzer", site.analyzer_total),
        "analyzerTimeAccess": {"enabled": capacity is not None, **(capacity or CAPACITY_COUNTS)},
        "loginAccess": {"enabled": tokens is not None,
                        **(tokens.login_access if tokens else TOKEN_BLOCKS["loginAccess"])},
        "userAccess": {"enabled": tokens is not None,
                       **(tokens.user_access if tokens else TOKEN_BLOCKS["userAccess"])},
        "schemaPath": "License.AccessTypeOverview",
    }


def condensed_access(a: LicenseAccess) -> dict[str, Any]:
    return {"id": a.id, "privileges": None}


def full_access(a: LicenseAccess) -> dict[str, Any]:
    schema = "License.ProfessionalAccessType" if a.kind == "professional" else "License.AnalyzerAccessType"
    return {
        "id": a.id,
        **_meta(a.meta),
        "user": user_ref(a.user),
        "name": a.user.name,
        "lastUsed": iso(a.last_used),
        "excess": False,
        "quarantined": a.quarantined,
        "quarantineEnd": iso(a.quarantine_end),
        "deleted": False,
        "privileges": None,
        "schemaPath": schema,
    }
