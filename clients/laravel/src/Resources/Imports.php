<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Resources;

use AttendanceBridge\Laravel\Client;
use AttendanceBridge\Laravel\Exceptions\ConfigurationException;
use AttendanceBridge\Laravel\Exceptions\WaitTimeoutException;
use Closure;

/** Fingerprint report uploads, their progress and their rows (import-service). */
final class Imports
{
    /** Delivery states nothing more happens to without someone acting (retry, enable, sync now, new key). */
    public const SETTLED_STATES = ['delivered', 'rejected', 'failed', 'held', 'scheduled', 'paused', 'cancelled'];

    /** @var Closure(float): void */
    private Closure $sleep;

    public function __construct(private readonly Client $client, ?Closure $sleep = null)
    {
        $this->sleep = $sleep ?? static fn (float $seconds) => usleep((int) ($seconds * 1_000_000));
    }

    /**
     * Operator. Uploads a report as it came from the clock's software (CSV, Excel's Unicode Text,
     * .xlsx or .xls; read from its content). Answers the import once the whole file is read and
     * stored: counts, unknown_employees, unmapped_departments, progress; the same bytes again
     * answer the earlier import with "reused": true unless $force.
     *
     * @param bool $dryRun check the file, store nothing
     * @param bool $strict send nothing if any row is invalid
     * @param bool $hold send nothing until release()
     * @param bool $force import bytes already imported again (punches already sent are never sent twice)
     * @param string|null $dateOrder 'dmy' or 'mdy', for slashed dates the file does not decide
     * @param string|null $sheet the workbook's sheet to read
     */
    public function upload(
        string $contents,
        string $filename,
        bool $dryRun = false,
        bool $strict = false,
        bool $hold = false,
        bool $force = false,
        ?string $dateOrder = null,
        ?string $sheet = null,
    ): array {
        $query = [
            'filename' => $filename,
            'dry_run' => $dryRun ?: null,
            'strict' => $strict ?: null,
            'hold' => $hold ?: null,
            'force' => $force ?: null,
            'date_order' => $dateOrder,
            'sheet' => $sheet,
        ];
        $type = preg_match('/\.xlsx?$/i', $filename) === 1 ? 'application/octet-stream' : 'text/csv';

        return $this->client->upload(Client::IMPORT, '/v1/imports', $contents, $type, $query);
    }

    /** upload() of a file on disk (an UploadedFile's getRealPath(), say), named $filename or its own name. */
    public function uploadFile(string $path, ?string $filename = null, bool $dryRun = false, bool $strict = false, bool $hold = false, bool $force = false, ?string $dateOrder = null, ?string $sheet = null): array
    {
        $contents = @file_get_contents($path);
        if ($contents === false) {
            throw new ConfigurationException('cannot read ' . $path);
        }

        return $this->upload($contents, $filename ?? basename($path), $dryRun, $strict, $hold, $force, $dateOrder, $sheet);
    }

    /** The import: status, counts, facts and `progress` (its punches per company by delivery state). */
    public function get(int $id): array
    {
        return $this->client->json(Client::IMPORT, 'GET', '/v1/imports/' . $id);
    }

    /** A page of imports, newest first. $filters: status, uploaded_by, from, to, page, per_page. */
    public function list(array $filters = []): array
    {
        return $this->client->json(Client::IMPORT, 'GET', '/v1/imports', $filters);
    }

    /**
     * A page of the import's rows. $filters: outcome (valid, invalid, skipped), error
     * (unknown_employee, unmapped_department, …), company, employee, from, to, delivery_state
     * (failed, syncing, pending, synced, skipped), page, per_page.
     */
    public function rows(int $id, array $filters = []): array
    {
        return $this->client->json(Client::IMPORT, 'GET', '/v1/imports/' . $id . '/rows', $filters);
    }

    /** The rows whose punches Bayzat refused or that failed every retry. */
    public function failedRows(int $id, int $page = 1, int $perPage = 50): array
    {
        return $this->rows($id, ['delivery_state' => 'failed', 'page' => $page, 'per_page' => $perPage]);
    }

    /** The rows that could not be read or matched (unknown employee, unmapped department, …). */
    public function invalidRows(int $id, int $page = 1, int $perPage = 50): array
    {
        return $this->rows($id, ['outcome' => 'invalid', 'page' => $page, 'per_page' => $perPage]);
    }

    /** The same rows as a spreadsheet (CSV text; cells starting with = + - @ are written with a leading '). */
    public function rowsCsv(int $id, array $filters = []): string
    {
        return $this->client->raw(Client::IMPORT, 'GET', '/v1/imports/' . $id . '/rows.csv', $filters, 'text/csv');
    }

    /** The rows as an Excel workbook (.xlsx bytes). */
    public function rowsXlsx(int $id, array $filters = []): string
    {
        return $this->client->raw(Client::IMPORT, 'GET', '/v1/imports/' . $id . '/rows.xlsx', $filters);
    }

    /** Operator. Checks the unsent rows again (after the directory was fixed) and sends the valid ones. */
    public function reprocess(int $id): array
    {
        return $this->client->json(Client::IMPORT, 'POST', '/v1/imports/' . $id . '/reprocess') ?? [];
    }

    /** Operator. Sends a held import (uploaded with hold: true); 409 not_held otherwise. */
    public function release(int $id): array
    {
        return $this->client->json(Client::IMPORT, 'POST', '/v1/imports/' . $id . '/release') ?? [];
    }

    /** Operator. Cancels what of the import is not yet sent. */
    public function cancel(int $id): array
    {
        return $this->client->json(Client::IMPORT, 'POST', '/v1/imports/' . $id . '/cancel') ?? [];
    }

    /**
     * Whether nothing of the import is on its way any more: it has been read, and each of its
     * punches is delivered, rejected, failed, held, scheduled, paused or cancelled.
     */
    public static function isSettled(array $import): bool
    {
        if (in_array($import['status'] ?? null, ['pending', 'processing'], true)) {
            return false;
        }
        foreach ((array) ($import['progress'] ?? []) as $states) {
            foreach (array_keys((array) $states) as $state) {
                if (!in_array($state, self::SETTLED_STATES, true)) {
                    return false;
                }
            }
        }

        return true;
    }

    /**
     * Polls the import (every $intervalSeconds) until isSettled(), and answers it; a
     * WaitTimeoutException after $timeoutSeconds. In a web request, prefer a queued job or the
     * ImportCompleted webhook: this blocks.
     */
    public function waitUntilSettled(int $id, float $timeoutSeconds = 120, float $intervalSeconds = 2): array
    {
        $deadline = microtime(true) + $timeoutSeconds;
        while (true) {
            $import = $this->get($id);
            if (self::isSettled($import)) {
                return $import;
            }
            if (microtime(true) >= $deadline) {
                throw new WaitTimeoutException(
                    sprintf('import %d still has punches on their way after %s s: %s', $id, $timeoutSeconds, json_encode($import['progress'] ?? null)),
                    $import,
                );
            }
            ($this->sleep)($intervalSeconds);
        }
    }
}
