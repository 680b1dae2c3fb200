{{/* Names and labels shared by every template. */}}

{{- define "parent-harness.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parent-harness.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "parent-harness.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "parent-harness.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "parent-harness.selector" -}}
app.kubernetes.io/name: {{ include "parent-harness.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "parent-harness.orchestrator" -}}
{{- printf "%s-orchestrator" (include "parent-harness.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parent-harness.dashboard" -}}
{{- printf "%s-dashboard" (include "parent-harness.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parent-harness.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "parent-harness.orchestrator" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "parent-harness.jobNamespace" -}}
{{- default .Release.Namespace .Values.executor.kubernetes.namespace -}}
{{- end -}}

{{- define "parent-harness.orchestratorImage" -}}
{{- printf "%s:%s" .Values.orchestrator.image.repository (default .Chart.AppVersion .Values.orchestrator.image.tag) -}}
{{- end -}}

{{- define "parent-harness.dashboardImage" -}}
{{- printf "%s:%s" .Values.dashboard.image.repository (default .Chart.AppVersion .Values.dashboard.image.tag) -}}
{{- end -}}

{{/* The orchestrator's in-cluster URL: workers and the dashboard use it. */}}
{{- define "parent-harness.orchestratorUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "parent-harness.orchestrator" .) .Release.Namespace .Values.orchestrator.service.port -}}
{{- end -}}

{{/* A container that runs confined. */}}
{{- define "parent-harness.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "parent-harness.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}
