{{/* Names. */}}
{{- define "iopnet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "iopnet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", within the 63 characters a name may have. */}}
{{- define "iopnet.resourceName" -}}
{{- printf "%s-%s" (include "iopnet.fullname" .root) .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "iopnet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "iopnet.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Labels. Call with (dict "root" $ "service" NAME "component" ROLE); both optional. */}}
{{- define "iopnet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iopnet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- with .service }}
iopnet/service: {{ . }}
{{- end }}
{{- end }}

{{- define "iopnet.labels" -}}
helm.sh/chart: {{ include "iopnet.chart" .root }}
{{ include "iopnet.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: iopnet
{{- end }}

{{/* A role's settings: the top-level defaults (.Values.api / .worker) with the
     service's own (.Values.services.<name>.api / .worker) merged over them. */}}
{{- define "iopnet.roleValues" -}}
{{- $defaults := deepCopy (index .root.Values .role) }}
{{- $own := deepCopy (default (dict) (index .svc .role)) }}
{{- toYaml (mergeOverwrite $defaults $own) }}
{{- end }}

{{- define "iopnet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "iopnet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Kafka user a service logs in as, with kafka.users.perService; else empty. */}}
{{- define "iopnet.kafkaUser" -}}
{{- if .root.Values.kafka.users.perService }}{{ .root.Values.kafka.users.usernamePrefix }}{{ .name }}{{ end }}
{{- end }}

{{/* Environment: Kafka (every iopnet container). (dict "root" $ ["user" KAFKA-USER]):
     a service's own user, or the shared login of kafka.sasl.existingSecret. */}}
{{- define "iopnet.env.kafka" -}}
{{- $kafka := .root.Values.kafka -}}
- name: IOPNET_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required" $kafka.bootstrap | quote }}
- name: IOPNET_KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- with $kafka.sasl.mechanism }}
- name: IOPNET_KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- if .user }}
{{- $_ := required "kafka.sasl.mechanism is required with kafka.users.perService" $kafka.sasl.mechanism }}
- name: IOPNET_KAFKA_SASL_USERNAME
  value: {{ .user | quote }}
- name: IOPNET_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .user }}
      key: {{ $kafka.sasl.passwordKey }}
{{- else }}
{{- with $kafka.sasl.existingSecret }}
- name: IOPNET_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $kafka.sasl.usernameKey }}
- name: IOPNET_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $kafka.sasl.passwordKey }}
{{- end }}
{{- end }}
{{- if $kafka.tls.caSecret }}
- name: IOPNET_KAFKA_CA_FILE
  value: /etc/iopnet/tls/kafka/{{ $kafka.tls.caKey }}
{{- end }}
{{- end }}

{{/* Environment: everything a service's process reads. (dict "root" $ "name" NAME "svc" SVC "role" ROLE) */}}
{{- define "iopnet.env.service" -}}
{{- $root := .root }}
{{- $secret := .svc.databaseUrlSecret | default $root.Values.postgres.existingSecret -}}
{{- if eq .role "migrate" }}
{{- /* Only the migration Job gets the schema owner's URL; it needs no other. */}}
- name: IOPNET_MIGRATION_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "postgres.existingSecret (or services.<name>.databaseUrlSecret) is required" $secret }}
      key: {{ .svc.migrationDatabaseUrlKey | default (printf "%s-migration-database-url" .name) }}
{{- else }}
- name: IOPNET_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "postgres.existingSecret (or services.<name>.databaseUrlSecret) is required" $secret }}
      key: {{ .svc.databaseUrlKey | default (printf "%s-database-url" .name) }}
{{- end }}
{{- if $root.Values.postgres.tls.caSecret }}
- name: PGSSLROOTCERT
  value: /etc/iopnet/tls/postgres/{{ $root.Values.postgres.tls.caKey }}
{{- end }}
{{ include "iopnet.env.kafka" (dict "root" $root "user" (include "iopnet.kafkaUser" .)) }}
- name: IOPNET_CONSUMER_GROUP
  value: {{ .svc.consumerGroup | default .name | quote }}
- name: IOPNET_HTTP_HOST
  value: "0.0.0.0"
- name: IOPNET_HTTP_PORT
  value: {{ .svc.port | quote }}
{{- if and (eq .role "api") $root.Values.operatorKey.existingSecret }}
{{- /* The APIs only: workers never authenticate anyone. Digests, never the key. */}}
- name: IOPNET_OPERATOR_KEY_SHA256
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.operatorKey.existingSecret }}
      key: {{ $root.Values.operatorKey.digestsKey }}
{{- end }}
{{- if and (eq .name "notifications") (eq .role "worker") $root.Values.smtp.host }}
{{ include "iopnet.env.smtp" $root }}
{{- end }}
{{ include "iopnet.env.common" (dict "root" $root "name" .name "role" .role) }}
{{- with .svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Environment: notifications' SMTP relay (its worker only: the one that sends). */}}
{{- define "iopnet.env.smtp" -}}
- name: IOPNET_SMTP_HOST
  value: {{ .Values.smtp.host | quote }}
- name: IOPNET_SMTP_PORT
  value: {{ .Values.smtp.port | quote }}
- name: IOPNET_SMTP_FROM
  value: {{ .Values.smtp.from | quote }}
- name: IOPNET_SMTP_STARTTLS
  value: {{ .Values.smtp.starttls | quote }}
- name: IOPNET_SMTP_TLS
  value: {{ .Values.smtp.tls | quote }}
{{- with .Values.smtp.existingSecret }}
- name: IOPNET_SMTP_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.smtp.usernameKey }}
- name: IOPNET_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.smtp.passwordKey }}
{{- end }}
{{- end }}

{{/* Environment: log level, OpenTelemetry, extras. (dict "root" $ "name" NAME "role" ROLE) */}}
{{- define "iopnet.env.common" -}}
{{- $root := .root -}}
- name: IOPNET_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_SERVICE_NAME
  value: iopnet-{{ .name }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=iopnet,service.instance.id=$(POD_NAME),k8s.pod.name=$(POD_NAME),k8s.namespace.name=%s,iopnet.role=%s" $root.Release.Namespace .role }}{{ with $root.Values.otel.resourceAttributes }},{{ . }}{{ end }}
{{- with $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $root.Values.otel.protocol | quote }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes every iopnet pod has: /tmp, and the CA certificates when configured. */}}
{{- define "iopnet.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.postgres.tls.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- with .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{- define "iopnet.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.postgres.tls.caSecret }}
- name: postgres-ca
  mountPath: /etc/iopnet/tls/postgres
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/iopnet/tls/kafka
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod-level settings every iopnet pod shares. */}}
{{- define "iopnet.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "iopnet.volumes" . | nindent 2 }}
{{- end }}

{{/* Topology spread over nodes and zones, best effort. (dict "root" $ "service" NAME "component" ROLE) */}}
{{- define "iopnet.topologySpread" -}}
topologySpreadConstraints:
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "iopnet.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}

{{/* Hook Jobs run before the chart's ServiceAccount exists. */}}
{{- define "iopnet.hookServiceAccountName" -}}
{{- default "default" .Values.serviceAccount.hookName }}
{{- end }}

{{/* "true" when Helm talks to a cluster (install, upgrade, --dry-run=server), empty for
     `helm template` and `helm lint`, whose lookups find nothing. Reading the release's
     namespace needs `get` on it, which any role bound in that namespace grants. */}}
{{- define "iopnet.live" -}}
{{- if lookup "v1" "Namespace" "" .Release.Namespace }}true{{ end }}
{{- end }}

{{/* Fails early, naming the value that turns it off, when the cluster does not serve a
     CRD-backed kind the values ask for (Helm would only say "ensure CRDs are installed
     first" after creating the rest). (dict "root" $ "api" "group/version/Kind" "value"
     "x.enabled" "from" "whose CRD" ["also" "more advice"]) */}}
{{- define "iopnet.requireApi" -}}
{{- if and (include "iopnet.live" .root) (not (.root.Capabilities.APIVersions.Has .api)) }}
{{- fail (printf "%s is not served by this cluster: install %s CRD, or set %s=false%s" .api .from .value (.also | default "")) }}
{{- end }}
{{- end }}

{{/* Who else has the KafkaTopic of a topic: the release that kept it ("<name> in <ns>"),
     "someone" for one not made by Helm, or empty when it is absent or this release's.
     (dict "root" $ "name" RESOURCE-NAME) */}}
{{- define "iopnet.topicKeptBy" -}}
{{- $strimzi := .root.Values.kafka.topics.strimzi }}
{{- $existing := lookup $strimzi.apiVersion "KafkaTopic" $strimzi.namespace .name }}
{{- $owner := dig "metadata" "annotations" "meta.helm.sh/release-name" "" $existing }}
{{- $ownerNamespace := dig "metadata" "annotations" "meta.helm.sh/release-namespace" "" $existing }}
{{- if and $existing (not (and (eq $owner .root.Release.Name) (eq $ownerNamespace .root.Release.Namespace))) }}
{{- if $owner }}release {{ $owner }} in {{ $ownerNamespace }}{{ else }}someone{{ end }}
{{- end }}
{{- end }}
