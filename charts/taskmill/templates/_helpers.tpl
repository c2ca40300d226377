{{/* Chart name, overridable. */}}
{{- define "taskmill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name of every object: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "taskmill.fullname" -}}
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

{{- define "taskmill.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "taskmill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: taskmill
{{- end }}

{{- define "taskmill.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskmill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Selector labels of one provider pool; call with (dict "root" $ "pool" $pool). */}}
{{- define "taskmill.provider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "taskmill.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: provider
taskmill.io/pool: {{ .pool.name }}
{{- end }}

{{- define "taskmill.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "taskmill.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "taskmill.provider.serviceAccountName" -}}
{{- if .Values.providers.serviceAccount.create }}
{{- default (printf "%s-provider" (include "taskmill.fullname" .)) .Values.providers.serviceAccount.name }}
{{- else }}
{{- required "providers.serviceAccount.name is required when providers.serviceAccount.create is false" .Values.providers.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespace the operator watches when it is namespaced. */}}
{{- define "taskmill.operator.watchNamespace" -}}
{{- default .Release.Namespace .Values.operator.watchNamespace }}
{{- end }}

{{/* Image reference; call with (dict "root" $ "image" $override) where $override may be empty. */}}
{{- define "taskmill.image" -}}
{{- $image := mergeOverwrite (deepCopy .root.Values.image) (default dict .image) }}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Cluster-scoped objects are shared by every release: name them after release and namespace. */}}
{{- define "taskmill.clusterName" -}}
{{- printf "%s-%s" (include "taskmill.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Usernames the admission policy treats as providers. */}}
{{- define "taskmill.provider.usernames" -}}
{{- $names := list (printf "system:serviceaccount:%s:%s" .Release.Namespace (include "taskmill.provider.serviceAccountName" .)) }}
{{- toJson (concat $names .Values.admissionPolicy.extraProviderUsernames) }}
{{- end }}

{{/* Environment every taskmill container gets: its identity from the Downward API. */}}
{{- define "taskmill.identityEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/* --metrics-bind-address of operator and providers: :PORT, or 0 when metrics are off. */}}
{{- define "taskmill.metricsBindAddress" -}}
{{- if .Values.metrics.enabled }}:{{ .Values.metrics.port }}{{ else }}0{{ end }}
{{- end }}

{{/* Where provider pods find the stores file and, per store, its credentials Secret. */}}
{{- define "taskmill.storesDir" -}}/etc/taskmill/stores{{- end }}
{{- define "taskmill.storeCredentialsDir" -}}/var/run/taskmill/stores{{- end }}
