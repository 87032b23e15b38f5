"""Run attempts: job and artifact rows per attempt, archived attempts, deferred matrices.

Before this migration a re-run rewrote the jobs of its run in place, so every existing job and
artifact belongs to its run's current attempt: they get that number. Earlier attempts of
existing runs were already overwritten and cannot be brought back; only attempts made from now
on are archived.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def current_attempt(apps, schema_editor):  # type: ignore[no-untyped-def]
    WorkflowRun = apps.get_model("workflows", "WorkflowRun")
    WorkflowJob = apps.get_model("workflows", "WorkflowJob")
    WorkflowArtifact = apps.get_model("workflows", "WorkflowArtifact")
    attempt = models.Subquery(WorkflowRun.objects.filter(pk=models.OuterRef("run_id")).values("run_attempt")[:1])
    WorkflowJob.objects.exclude(run__run_attempt=1).update(run_attempt=attempt)
    WorkflowArtifact.objects.exclude(run__run_attempt=1).update(run_attempt=attempt)


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='WorkflowRunAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('run_attempt', models.PositiveIntegerField()),
                ('status', models.CharField(max_length=20)),
                ('conclusion', models.CharField(blank=True, max_length=20)),
                ('queued_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['run_attempt'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='workflowartifact',
            name='workflows_artifact_run_name',
        ),
        migrations.RemoveIndex(
            model_name='workflowjob',
            name='workflows_w_run_id_ebec05_idx',
        ),
        migrations.AddField(
            model_name='workflowartifact',
            name='run_attempt',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name='workflowjob',
            name='matrix_pending',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='workflowjob',
            name='reused_from',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='workflows.workflowjob'),
        ),
        migrations.AddField(
            model_name='workflowjob',
            name='run_attempt',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddIndex(
            model_name='workflowjob',
            index=models.Index(fields=['run', 'run_attempt', 'job_key'], name='workflows_w_run_id_4b1daa_idx'),
        ),
        migrations.AddConstraint(
            model_name='workflowartifact',
            constraint=models.UniqueConstraint(fields=('run', 'run_attempt', 'name'), name='workflows_artifact_run_attempt_name'),
        ),
        migrations.AddField(
            model_name='workflowrunattempt',
            name='actor',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='workflowrunattempt',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='workflows.workflowrun'),
        ),
        migrations.AddConstraint(
            model_name='workflowrunattempt',
            constraint=models.UniqueConstraint(fields=('run', 'run_attempt'), name='workflows_attempt_run_n'),
        ),
        migrations.RunPython(current_attempt, migrations.RunPython.noop),
    ]
