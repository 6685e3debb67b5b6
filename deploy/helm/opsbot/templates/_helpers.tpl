{{/* Names and labels. */}}
{{- define "opsbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "opsbot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "opsbot.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "opsbot.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "opsbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "opsbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "opsbot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "opsbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "opsbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "opsbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* SQLite: one replica, whatever the default; PostgreSQL: replicaCount, default 2. */}}
{{- define "opsbot.replicas" -}}
{{- if eq .Values.database.kind "sqlite" }}1
{{- else if kindIs "invalid" .Values.replicaCount }}2
{{- else }}{{ .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/* The namespaces that get a Role: rbac.namespaces, else the catalog's policy allowlist. */}}
{{- define "opsbot.rbacNamespaces" -}}
{{- $policy := (default dict (default dict .Values.catalog).policy) }}
{{- default (default list $policy.namespaces) .Values.rbac.namespaces | uniq | toJson }}
{{- end }}

{{/*
What opsbot does in Kubernetes, and nothing else (bot/clients/kubernetes.py, kubernetes_pods.py):
  deployments        get (read, rollout history and status), patch (rollback, restart)
  deployments/scale  get, patch (scale_deployment)
  replicasets        list (rollout history, rollback target, the pods of a Deployment)
  pods               list (enrichment: the service's pods, restarts, Pending)
  pods/log           get (enrichment: the crashed container's previous log)
  events             list (enrichment: the Warning events about the service's pods)
  HPAs               list (find the one targeting a Deployment), patch (its bounds)
  cronjobs           get (rerun_pipeline reads the jobTemplate)
  jobs               create (the rerun), get (its progress)
*/}}
{{- define "opsbot.rbacRules" -}}
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["get", "patch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "patch"]
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get"]
- apiGroups: ["serving.kserve.io"]
  resources: ["inferenceservices"]
  verbs: ["get", "patch"]
- apiGroups: ["argoproj.io"]
  resources: ["rollouts"]
  verbs: ["get", "patch"]
- apiGroups: ["argoproj.io"]
  resources: ["rollouts/status"]
  verbs: ["patch"]
{{- end }}

{{/* SIGTERM drain (readiness off, then in-flight requests) plus a margin. */}}
{{- define "opsbot.terminationGracePeriodSeconds" -}}
{{- $drain := ceil (default 5 .Values.env.OPSBOT_DRAIN_DELAY_S) | int }}
{{- $shutdown := ceil (default 20 .Values.env.OPSBOT_SHUTDOWN_TIMEOUT_S) | int }}
{{- add $drain $shutdown .Values.terminationGraceExtraSeconds }}
{{- end }}
